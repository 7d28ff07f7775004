"""Stateless per-date modality features. A value for date t reads only rows dated <= t.

* price windows: the last `window` trading days of scaled OHLCV features per entity-date,
  followed by slow and cross-sectional summaries (`PRICE_SUMMARY`): returns, realized volatility
  and volume over 5/20/60 days, the 60-day drawdown, and the entity against the market that day;
* chart images: OHLC bar charts of the same windows, after Jiang, Kelly & Xiu (2023),
  "(Re-)Imag(in)ing Price Trends": 3 pixels per day (open tick, high-low bar, close tick), a
  moving-average line, and a volume pane, black and white, stored bit-packed;
* fundamentals: point-in-time as-of join on the usable date of each filing, then cross-sectional
  rank normalization per date, with the filing's age.

Text embeddings and their summaries live in `ml.text_summary`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_days_between

PRICE_WINDOW = 20
PRICE_FEATURES = ("log_return", "log_range", "log_body", "log_gap", "volume_z")
CHART_HEIGHT, CHART_PRICE_ROWS, CHART_VOLUME_ROWS = 64, 51, 12
CHART_WIDTH = 3 * PRICE_WINDOW
VOLUME_LOOKBACK = 60
RETURN_SCALE = 50.0  # a 2% daily move maps to 1.0
PRICE_HORIZONS = (5, 20, 60)
# Business days of prices one embedding date reads: a 60-day mean of volume z-scores that each
# look 60 days further back. With this much history a partition run equals a full-history run.
PRICE_LOOKBACK = max(PRICE_WINDOW, *PRICE_HORIZONS) + VOLUME_LOOKBACK
PRICE_SUMMARY = (
    *(f"return_{h}d" for h in PRICE_HORIZONS),
    *(f"volatility_{h}d" for h in PRICE_HORIZONS),
    "drawdown_60d",
    "range_60d",
    "volume_z_20d",
    "volume_z_60d",
    *(f"market_return_{h}d" for h in PRICE_HORIZONS),
    "market_volatility_20d",
    "excess_return_20d",
    "excess_return_60d",
    "volatility_rank_60d",
    "return_rank_60d",
    "history_share",
)
FUNDAMENTALS_MAX_AGE = 130  # business days: a filing older than two quarters counts as missing


def _sorted_prices(prices: pd.DataFrame) -> pd.DataFrame:
    frame = prices.sort_values(["entity_id", "date"]).reset_index(drop=True)
    frame["position"] = frame.groupby("entity_id").cumcount()
    return frame


def daily_price_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Per entity-day scaled features; every value uses that day and earlier days only."""
    frame = _sorted_prices(prices)
    by_entity = frame.groupby("entity_id", sort=False)
    prev_close = by_entity["close"].shift(1)
    log_volume = np.log1p(frame["volume"])
    past = log_volume.groupby(frame["entity_id"], sort=False).shift(1)
    grouped_past = past.groupby(frame["entity_id"], sort=False)
    mean = grouped_past.transform(lambda s: s.rolling(VOLUME_LOOKBACK, min_periods=5).mean())
    std = grouped_past.transform(lambda s: s.rolling(VOLUME_LOOKBACK, min_periods=5).std())
    frame["log_return"] = np.log(frame["close"] / prev_close) * RETURN_SCALE
    frame["log_range"] = np.log(frame["high"] / frame["low"]) * RETURN_SCALE
    frame["log_body"] = np.log(frame["close"] / frame["open"]) * RETURN_SCALE
    frame["log_gap"] = np.log(frame["open"] / prev_close) * RETURN_SCALE
    frame["volume_z"] = ((log_volume - mean) / std.clip(lower=0.05)).clip(-5, 5)
    features = list(PRICE_FEATURES)
    frame[features] = frame[features].fillna(0.0).clip(-25, 25)
    return frame


def _rolling(values: pd.Series, entity: pd.Series, horizon: int, how: str) -> pd.Series:
    rolling = values.groupby(entity, sort=False).rolling(horizon, min_periods=1)
    return getattr(rolling, how)().reset_index(level=0, drop=True).sort_index()


def price_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """`PRICE_SUMMARY` per row of `daily_price_features`: trailing horizons of each entity, then
    the market (every entity with a price that day) and the entity's place in it. Returns are
    summed log returns over sqrt(h), so every horizon reads in daily-volatility units."""
    entity = frame["entity_id"]
    out = pd.DataFrame(index=frame.index)
    for h in PRICE_HORIZONS:
        out[f"return_{h}d"] = _rolling(frame["log_return"], entity, h, "sum") / np.sqrt(h)
        out[f"volatility_{h}d"] = _rolling(frame["log_return"], entity, h, "std").fillna(0.0)
    log_close = np.log(frame["close"])
    out["drawdown_60d"] = (log_close - _rolling(log_close, entity, 60, "max")) * RETURN_SCALE / np.sqrt(60)
    out["range_60d"] = _rolling(frame["log_range"], entity, 60, "mean")
    out["volume_z_20d"] = _rolling(frame["volume_z"], entity, 20, "mean")
    out["volume_z_60d"] = _rolling(frame["volume_z"], entity, 60, "mean")
    by_date = out.groupby(frame["date"], sort=False)
    for h in PRICE_HORIZONS:
        out[f"market_return_{h}d"] = by_date[f"return_{h}d"].transform("mean")
    out["market_volatility_20d"] = by_date["volatility_20d"].transform("mean")
    out["excess_return_20d"] = out["return_20d"] - out["market_return_20d"]
    out["excess_return_60d"] = out["return_60d"] - out["market_return_60d"]
    ranks = cross_sectional_ranks(out.assign(date=frame["date"]), ["volatility_60d", "return_60d"])
    out["volatility_rank_60d"], out["return_rank_60d"] = ranks["volatility_60d"], ranks["return_60d"]
    out["history_share"] = np.minimum(frame["position"] + 1, 60) / 60
    return out[list(PRICE_SUMMARY)].fillna(0.0).clip(-25, 25)


def split_price_vectors(vectors):
    """(n, window * len(PRICE_FEATURES) + len(PRICE_SUMMARY)) -> the window (n, window,
    len(PRICE_FEATURES)) and the summary (n, len(PRICE_SUMMARY)); numpy arrays or torch tensors."""
    window = vectors[:, : vectors.shape[1] - len(PRICE_SUMMARY)]
    return window.reshape(len(vectors), -1, len(PRICE_FEATURES)), vectors[:, -len(PRICE_SUMMARY) :]


def price_vector_size(window: int) -> int:
    return window * len(PRICE_FEATURES) + len(PRICE_SUMMARY)


def _window_rows(frame: pd.DataFrame, dates: pd.DatetimeIndex, window: int) -> np.ndarray:
    """Row indices (n, window) of each target entity-date's trailing window, oldest first."""
    target = frame.index[frame["date"].isin(dates) & (frame["position"] >= window - 1)]
    return target.to_numpy()[:, None] + np.arange(-window + 1, 1)[None, :]


def price_windows(prices: pd.DataFrame, dates, window: int = PRICE_WINDOW) -> pd.DataFrame:
    """entity_id, date, vector: the window (window x len(PRICE_FEATURES), oldest day first) then
    `PRICE_SUMMARY`, flattened float32 (`split_price_vectors` takes it apart)."""
    frame = daily_price_features(prices)
    rows = _window_rows(frame, pd.DatetimeIndex(dates), window)
    values = frame[list(PRICE_FEATURES)].to_numpy(np.float32)[rows]
    last = rows[:, -1] if len(rows) else np.array([], dtype=int)
    summary = price_summaries(frame).to_numpy(np.float32)[last]
    # Explicit width: a day before any full window has zero rows, and -1 cannot be inferred.
    vectors = np.hstack([values.reshape(len(rows), window * len(PRICE_FEATURES)), summary])
    return pd.DataFrame(
        {
            "entity_id": frame["entity_id"].to_numpy()[last],
            "date": frame["date"].to_numpy()[last],
            "vector": list(vectors),
        }
    )


def _scale_rows(values: np.ndarray, low: np.ndarray, high: np.ndarray, rows: int) -> np.ndarray:
    span = np.maximum(high - low, 1e-12)
    scaled = (values - low) / span
    return (rows - 1 - np.round(np.clip(scaled, 0, 1) * (rows - 1))).astype(int)


def render_charts(ohlcv: np.ndarray, moving_average: np.ndarray) -> np.ndarray:
    """Bit-packed images (n, H*W/8) from windows `ohlcv` (n, window, 5) and MA (n, window)."""
    n, window, _ = ohlcv.shape
    o, h, l, c, v = (ohlcv[:, :, i] for i in range(5))  # noqa: E741 (open, high, low, close, volume)
    ma = np.where(np.isfinite(moving_average), moving_average, c)
    low = np.minimum(l.min(axis=1), ma.min(axis=1))[:, None]
    high = np.maximum(h.max(axis=1), ma.max(axis=1))[:, None]
    rows = {k: _scale_rows(x, low, high, CHART_PRICE_ROWS) for k, x in dict(o=o, h=h, l=l, c=c, ma=ma).items()}
    image = np.zeros((n, CHART_HEIGHT, 3 * window), dtype=bool)
    sample = np.arange(n)[:, None]
    day = np.arange(window)[None, :]
    image[sample, rows["o"], 3 * day] = True
    image[sample, rows["c"], 3 * day + 2] = True
    image[sample, rows["ma"], 3 * day + 1] = True
    grid = np.arange(CHART_PRICE_ROWS)[None, None, :]
    bars = (grid >= rows["h"][:, :, None]) & (grid <= rows["l"][:, :, None])
    image[:, :CHART_PRICE_ROWS, 1::3] |= bars.transpose(0, 2, 1)
    v = np.nan_to_num(v, nan=0.0)  # volume is optional: without it the volume pane stays empty
    volume_height = np.round(v / np.maximum(v.max(axis=1, keepdims=True), 1e-12) * CHART_VOLUME_ROWS)
    vgrid = np.arange(CHART_VOLUME_ROWS)[None, None, :]
    vbars = vgrid >= (CHART_VOLUME_ROWS - volume_height[:, :, None])
    image[:, CHART_HEIGHT - CHART_VOLUME_ROWS :, 1::3] |= vbars.transpose(0, 2, 1)
    return np.packbits(image.reshape(n, -1), axis=1)


def unpack_charts(packed: np.ndarray) -> np.ndarray:
    """(n, H*W/8) uint8 -> (n, 1, H, W) float32 in {0, 1}."""
    bits = np.unpackbits(packed, axis=1)[:, : CHART_HEIGHT * CHART_WIDTH]
    return bits.reshape(-1, 1, CHART_HEIGHT, CHART_WIDTH).astype(np.float32)


def chart_images(prices: pd.DataFrame, dates, window: int = PRICE_WINDOW, batch: int = 4096) -> pd.DataFrame:
    """entity_id, date, image (bytes): bit-packed chart of each entity's trailing window."""
    frame = _sorted_prices(prices)
    frame["ma"] = frame.groupby("entity_id", sort=False)["close"].transform(
        lambda s: s.rolling(window, min_periods=1).mean()
    )
    rows = _window_rows(frame, pd.DatetimeIndex(dates), window)
    ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    ma = frame["ma"].to_numpy(np.float64)
    packed = [render_charts(ohlcv[rows[i : i + batch]], ma[rows[i : i + batch]]) for i in range(0, len(rows), batch)]
    images = np.concatenate(packed) if packed else np.zeros((0, CHART_HEIGHT * CHART_WIDTH // 8), np.uint8)
    last = rows[:, -1] if len(rows) else np.array([], dtype=int)
    return pd.DataFrame(
        {
            "entity_id": frame["entity_id"].to_numpy()[last],
            "date": frame["date"].to_numpy()[last],
            "image": [bytes(row) for row in images],
        }
    )


def cross_sectional_ranks(frame: pd.DataFrame, columns: list[str], by: str = "date") -> pd.DataFrame:
    """Centered ranks in (-0.5, 0.5) per date; missing values map to 0 (the median)."""
    grouped = frame.groupby(by)[columns]
    ranks = grouped.rank(method="average")
    counts = grouped.transform("count")
    centered = (ranks - 0.5) / counts - 0.5
    return centered.fillna(0.0)


def fundamentals_asof(
    fundamentals: pd.DataFrame, dates, feature_columns: list[str], max_age_days: int = FUNDAMENTALS_MAX_AGE
) -> pd.DataFrame:
    """entity_id, date, vector (ranked features), age_days: latest filing usable at each date; of
    two usable the same day, the later period's."""
    dates = pd.DatetimeIndex(dates)
    order = ["date", *(["period_end"] if "period_end" in fundamentals else [])]
    filings = fundamentals.sort_values(order, kind="stable")
    entities = filings["entity_id"].unique()
    targets = pd.MultiIndex.from_product([entities, dates], names=["entity_id", "date"]).to_frame(index=False)
    targets = targets.sort_values("date")
    joined = pd.merge_asof(
        targets,
        filings.rename(columns={"date": "filed"})[["entity_id", "filed", *feature_columns]],
        left_on="date",
        right_on="filed",
        by="entity_id",
        direction="backward",
    )
    joined = joined[joined["filed"].notna()].copy()
    joined["age_days"] = business_days_between(joined["filed"], joined["date"])
    joined = joined[joined["age_days"] <= max_age_days].reset_index(drop=True)
    ranked = cross_sectional_ranks(joined, feature_columns).to_numpy(np.float32)
    return pd.DataFrame(
        {
            "entity_id": joined["entity_id"].to_numpy(),
            "date": joined["date"].to_numpy(),
            "vector": list(ranked),
            "age_days": joined["age_days"].to_numpy(),
        }
    ).sort_values(["date", "entity_id"], ignore_index=True)
