"""The embedded synthetic universe: deterministic, seeded, with known ground truth.

How the signal is planted
-------------------------
Each of `n_entities` slots hosts one listed company at a time. Every business day four latent
factors evolve per company, each standardized to unit variance:

* ``D`` common distress: half sector-wide, half idiosyncratic, slow (AR(1), phi 0.985). Every
  modality sees a noisy piece of it; it is what the modalities share and what cross-modal
  alignment can find.
* ``L`` balance-sheet weakness, very slow (phi 0.997). Seen only through fundamentals, which are
  quarterly and published 25-70 days after the quarter ends (`available_at`).
* ``V`` volatility regime: a two-state Markov chain (calm / stressed) plus noise. Seen only in
  prices (return size, intraday ranges, volume) and therefore in the chart images.
* ``S`` news shock, fast (phi 0.95). Seen in news headlines (sparse, accurate tone) and in social
  posts (dense, bursty, noisy tone, many authors).

The latent risk is ``z = (0.8 D + 0.7 L + 0.6 V + 0.7 S) / norm`` and the daily default hazard is
``sigmoid(a + b z)``. Because L, V and S are independent and each is seen by one modality only,
no single modality recovers ``z`` as well as all of them together; ``tests/unit/
test_synthetic.py`` shows it with a linear probe on observable features. A defaulted company
stops trading; after `relist_gap` business days a new company takes the slot with no history,
so new listings exercise the missing-modality paths.

Realistic dirt (``dirt=True``): duplicated rows, nulls, out-of-range values (negative volume,
high < low, non-positive prices, negative assets), timestamps with non-UTC offsets or naive,
unparseable and future timestamps, empty texts and null entity ids. Cleaning must handle all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_days, usable_date

SECTORS = ("Technology", "Energy", "Financials", "Healthcare", "Industrials", "Consumer")

NEGATIVE_WORDS = (
    "slide", "slump", "warns", "cut", "misses", "downgrade", "delays", "default", "tighten",
    "plunge", "probe", "losses", "crushed", "dumping", "bagholders", "rug", "bleeding", "scared",
)
POSITIVE_WORDS = (
    "beats", "raises", "wins", "upgrade", "record", "strong", "surge", "moon", "loading",
    "ripping", "bullish", "undervalued", "growth", "expands",
)

_NEWS_TEMPLATES = {
    "negative": (
        "{name} shares slide after {neg}",
        "{name} warns of {neg}",
        "Analysts cut {name} outlook amid {neg}",
        "{name} misses estimates as {neg} bites",
        "Rating agency signals downgrade risk for {name} on {neg}",
        "{name} delays quarterly filing, cites {neg}",
        "Lenders tighten terms for {name} after {neg}",
        "{name} stock plunge deepens on {neg}",
    ),
    "neutral": (
        "{name} to present at {event}",
        "{name} announces board appointment",
        "{name} schedules quarterly results call",
        "{name} completes previously announced {deal}",
        "{name} files routine {doc}",
        "{name} names new head of investor relations",
    ),
    "positive": (
        "{name} beats estimates on {pos}",
        "{name} raises full-year guidance after {pos}",
        "{name} wins major {sector} contract",
        "Analysts upgrade {name} citing {pos}",
        "{name} reports record {pos}",
        "{name} expands buyback on strong {pos}",
    ),
}
_NEGATIVE_TOPICS = (
    "weak demand", "a liquidity squeeze", "rising defaults", "covenant pressure",
    "an accounting probe", "heavy losses", "a dividend cut", "refinancing risk",
)
_POSITIVE_TOPICS = (
    "strong margins", "robust demand", "record cash flow", "growth in orders",
    "a debt reduction plan", "higher market share", "pricing power",
)
_EVENTS = ("an industry conference", "an investor day", "a sector forum")
_DEALS = ("asset swap", "office relocation", "systems migration")
_DOCS = ("proxy statement", "registration update", "shareholder notice")

_SOCIAL_TEMPLATES = {
    "negative": (
        "${tkr} getting crushed {neg}",
        "dumping my ${tkr} {neg}",
        "${tkr} bagholders {neg}",
        "this ${tkr} chart is bleeding {neg}",
        "scared of ${tkr} here {neg}",
    ),
    "neutral": (
        "anyone watching ${tkr} today",
        "${tkr} volume looks {vol}",
        "what is the play on ${tkr}",
        "${tkr} sideways again",
        "wild swings in ${tkr} {vol}",
    ),
    "positive": (
        "${tkr} to the moon {pos}",
        "loading up on ${tkr} {pos}",
        "${tkr} ripping {pos}",
        "${tkr} undervalued and bullish {pos}",
    ),
}
_NEG_SLANG = ("smh", "rug incoming", "default vibes", "so many losses", "plunge mode", "")
_POS_SLANG = ("lfg", "strong growth", "beats again", "record week", "🚀", "")
_VOL_WORDS = ("weird", "huge", "thin", "heavy", "crazy")

_NAME_HEADS = (
    "Alder", "Birch", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Onyx", "Pioneer", "Quartz", "Raven", "Summit",
    "Tidal", "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr",
)
_NAME_TAILS = ("Holdings", "Industries", "Systems", "Group", "Partners", "Energy", "Labs", "Corp")

FUNDAMENTAL_FEATURES = (
    "leverage", "interest_coverage", "current_ratio", "roa", "revenue_growth",
    "cash_to_assets", "log_total_assets",
)


@dataclass(frozen=True)
class SyntheticConfig:
    n_entities: int = 50
    start: date = date(2024, 1, 1)
    end: date = date(2025, 12, 31)
    seed: int = 7
    dirt: bool = True
    annual_default_rate: float = 0.4
    news_rate: float = 0.08
    social_rate: float = 0.8
    relist_gap: int = 10
    burn_in: int = 120


@dataclass
class SyntheticUniverse:
    """Raw canonical tables (with dirt) plus the ground truth that produced them."""

    config: SyntheticConfig
    fundamentals: pd.DataFrame
    prices: pd.DataFrame
    news: pd.DataFrame
    social: pd.DataFrame
    events: pd.DataFrame
    entities: pd.DataFrame
    latent: pd.DataFrame = field(repr=False)

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def _ar1(rng, shape, phi, n_steps):
    """AR(1) paths with unit stationary variance, shape (n_steps, *shape)."""
    out = np.empty((n_steps, *shape))
    out[0] = rng.standard_normal(shape)
    scale = np.sqrt(1 - phi**2)
    for t in range(1, n_steps):
        out[t] = phi * out[t - 1] + scale * rng.standard_normal(shape)
    return out


def _simulate_latent(cfg: SyntheticConfig, rng: np.random.Generator, days: pd.DatetimeIndex):
    """Latent factors per slot-day and the entity that occupies each slot-day."""
    n_days, n = len(days), cfg.n_entities
    sector_of_slot = rng.integers(0, len(SECTORS), n)
    sector_factor = _ar1(rng, (len(SECTORS),), 0.99, n_days)
    idio = _ar1(rng, (n,), 0.985, n_days)
    distress = (sector_factor[:, sector_of_slot] + idio) / np.sqrt(2)
    leverage = _ar1(rng, (n,), 0.997, n_days)
    shock = _ar1(rng, (n,), 0.95, n_days)
    # Volatility regime: calm -> stressed with 1%/day, back with 4%/day, plus noise.
    regime = np.zeros((n_days, n))
    for t in range(1, n_days):
        u = rng.random(n)
        regime[t] = np.where(regime[t - 1] == 1, (u > 0.04).astype(float), (u < 0.01).astype(float))
    vol = regime + 0.4 * _ar1(rng, (n,), 0.95, n_days)
    vol = (vol - vol.mean()) / vol.std()

    weights = np.array([0.8, 0.7, 0.7, 0.7])
    z = (weights[0] * distress + weights[1] * leverage + weights[2] * vol + weights[3] * shock)
    z /= np.sqrt((weights**2).sum())
    slope = 2.0
    daily_rate = cfg.annual_default_rate / 252
    intercept = np.log(daily_rate) - slope**2 / 2
    hazard = 1 / (1 + np.exp(-(intercept + slope * z)))

    # Entity lifecycle per slot: default -> gap -> a new entity with fresh latent history.
    occupant = np.full((n_days, n), -1, dtype=int)
    defaulted = np.zeros((n_days, n), dtype=bool)
    next_id = n
    current = np.arange(n)
    resume_at = np.zeros(n, dtype=int)
    draws = rng.random((n_days, n))
    for t in range(n_days):
        alive = t >= resume_at
        occupant[t, alive] = current[alive]
        hit = alive & (draws[t] < hazard[t]) & (t >= cfg.burn_in)
        defaulted[t, hit] = True
        for s in np.flatnonzero(hit):
            resume_at[s] = t + 1 + cfg.relist_gap
            current[s] = next_id
            next_id += 1
    factors = {"D": distress, "L": leverage, "V": vol, "S": shock, "z": z, "hazard": hazard}
    return sector_of_slot, occupant, defaulted, factors


def _entity_table(rng, sector_of_slot, occupant):
    ids = np.unique(occupant[occupant >= 0])
    slot_of = {}
    for s in range(occupant.shape[1]):
        for e in np.unique(occupant[:, s]):
            if e >= 0:
                slot_of[e] = s
    names, tickers = [], []
    for e in ids:
        head = _NAME_HEADS[e % len(_NAME_HEADS)]
        tail = _NAME_TAILS[(e // len(_NAME_HEADS)) % len(_NAME_TAILS)]
        suffix = "" if e < len(_NAME_HEADS) * len(_NAME_TAILS) else f" {e}"
        names.append(f"{head} {tail}{suffix}")
        tickers.append(f"{head[:3].upper()}{tail[0]}{e % 100:02d}")
    return pd.DataFrame(
        {
            "entity_id": [f"E{e:04d}" for e in ids],
            "ticker": tickers,
            "name": names,
            "sector": [SECTORS[sector_of_slot[slot_of[e]]] for e in ids],
            "size": rng.normal(8.0, 1.0, len(ids)),
            "base_volume": rng.normal(13.0, 0.8, len(ids)),
            "base_price": np.exp(rng.normal(3.5, 0.6, len(ids))),
        }
    )


def _long_frame(days, occupant, factors, entities):
    t_idx, slot = np.nonzero(occupant >= 0)
    frame = pd.DataFrame(
        {
            "t": t_idx,
            "slot": slot,
            "entity_num": occupant[t_idx, slot],
            "date": days[t_idx],
        }
    )
    for key, values in factors.items():
        frame[key] = values[t_idx, slot]
    frame["entity_id"] = [f"E{e:04d}" for e in frame["entity_num"]]
    return frame.merge(entities, on="entity_id", how="left")


def _simulate_prices(rng, panel: pd.DataFrame, defaulted_rows: np.ndarray) -> pd.DataFrame:
    n = len(panel)
    sigma = 0.014 * np.exp(0.45 * panel["V"].to_numpy() + 0.15 * panel["D"].to_numpy())
    drift = -0.0007 * panel["D"].to_numpy()
    shocks = rng.standard_t(5, n) / np.sqrt(5 / 3)
    returns = drift + sigma * shocks
    returns[defaulted_rows] = -0.6  # the default day crash
    frame = panel[["entity_id", "date", "V", "D", "base_price", "base_volume"]].copy()
    frame["ret"] = returns
    frame["sigma"] = sigma
    frame["close"] = frame["base_price"] * np.exp(frame.groupby("entity_id")["ret"].cumsum())
    prev_close = frame.groupby("entity_id")["close"].shift(1).fillna(frame["base_price"])
    gap = 0.3 * sigma * rng.standard_normal(n)
    frame["open"] = prev_close * np.exp(gap)
    wick_scale = sigma * (0.6 + 0.3 * np.maximum(frame["V"].to_numpy(), 0))
    frame["high"] = np.maximum(frame["open"], frame["close"]) * np.exp(
        np.abs(wick_scale * rng.standard_normal(n))
    )
    frame["low"] = np.minimum(frame["open"], frame["close"]) * np.exp(
        -np.abs(wick_scale * rng.standard_normal(n))
    )
    log_volume = (
        frame["base_volume"]
        + 0.5 * frame["V"]
        + 0.2 * frame["D"]
        + 12 * np.abs(returns)
        + 0.3 * rng.standard_normal(n)
    )
    frame["volume"] = np.round(np.exp(log_volume))
    return frame[["entity_id", "date", "open", "high", "low", "close", "volume"]]


def _quarter_ends(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.date_range(days[0], days[-1], freq="QE")


def _simulate_fundamentals(rng, panel: pd.DataFrame, days: pd.DatetimeIndex, end: pd.Timestamp):
    quarter_days = np.searchsorted(days, _quarter_ends(days), side="right") - 1
    rows = panel[panel["t"].isin(quarter_days)].copy()
    n = len(rows)
    lev, dis = rows["L"].to_numpy(), rows["D"].to_numpy()
    rows["period_end"] = pd.to_datetime(rows["date"]) + pd.offsets.QuarterEnd(0)
    lag_days = rng.integers(25, 71, n)
    rows["available_at"] = rows["period_end"] + pd.to_timedelta(lag_days, unit="D")
    rows["leverage"] = np.exp(0.3 + 0.45 * lev + 0.12 * dis + 0.08 * rng.standard_normal(n))
    rows["interest_coverage"] = np.exp(1.6 - 0.35 * lev - 0.15 * dis + 0.12 * rng.standard_normal(n))
    rows["current_ratio"] = np.exp(0.25 - 0.12 * lev - 0.08 * dis + 0.08 * rng.standard_normal(n))
    rows["roa"] = 0.04 - 0.012 * dis - 0.012 * lev + 0.01 * rng.standard_normal(n)
    rows["revenue_growth"] = 0.04 - 0.03 * dis + 0.04 * rng.standard_normal(n)
    rows["cash_to_assets"] = 1 / (1 + np.exp(1.5 + 0.4 * lev + 0.2 * rng.standard_normal(n)))
    rows["log_total_assets"] = rows["size"] + 0.05 * rng.standard_normal(n)
    # A filing is published only if the company is still listed when it is due.
    last_listed = panel.groupby("entity_id")["date"].max()
    rows = rows[rows["available_at"] <= rows["entity_id"].map(last_listed)]
    rows = rows[rows["available_at"] <= end]
    rows["date"] = usable_date(rows["available_at"].dt.tz_localize("UTC"))
    rows["available_at"] = rows["date"]
    cols = ["entity_id", "period_end", "available_at", *FUNDAMENTAL_FEATURES, "date"]
    return rows[cols].reset_index(drop=True)


def _pick(rng, options, n):
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _timestamps(rng, dates: pd.Series) -> pd.Series:
    """A publication instant during the UTC day; some land on the preceding weekend."""
    n = len(dates)
    base = pd.to_datetime(dates).to_numpy()
    weekend = rng.random(n) < 0.12
    monday = pd.DatetimeIndex(base).dayofweek == 0
    shift_days = np.where(weekend & monday, rng.integers(1, 3, n), 0)
    seconds = rng.integers(0, 24 * 3600, n)
    stamps = pd.to_datetime(base) - pd.to_timedelta(shift_days, unit="D")
    return pd.Series(stamps + pd.to_timedelta(seconds, unit="s")).dt.tz_localize("UTC")


def _tone_class(tone: np.ndarray, low=-0.5, high=0.5) -> np.ndarray:
    return np.where(tone < low, "negative", np.where(tone > high, "positive", "neutral"))


def _fill_templates(rng, templates: dict, classes: np.ndarray, fields: dict[str, np.ndarray]):
    out = np.empty(len(classes), dtype=object)
    for cls, options in templates.items():
        idx = np.flatnonzero(classes == cls)
        chosen = _pick(rng, options, len(idx))
        for i, template in zip(idx, chosen):
            out[i] = " ".join(template.format(**{k: v[i] for k, v in fields.items()}).split())
    return out


def _simulate_news(rng, panel: pd.DataFrame) -> pd.DataFrame:
    shock, dis = panel["S"].to_numpy(), panel["D"].to_numpy()
    rate = 0.08 * (1 + 1.5 * np.abs(shock) + 0.5 * np.maximum(dis, 0))
    counts = rng.poisson(rate)
    rows = panel.loc[panel.index.repeat(counts)].reset_index(drop=True)
    n = len(rows)
    tone = -(0.8 * rows["S"].to_numpy() + 0.4 * rows["D"].to_numpy()) + 0.5 * rng.standard_normal(n)
    classes = _tone_class(tone)
    fields = {
        "name": rows["name"].to_numpy(),
        "sector": rows["sector"].str.lower().to_numpy(),
        "neg": _pick(rng, _NEGATIVE_TOPICS, n),
        "pos": _pick(rng, _POSITIVE_TOPICS, n),
        "event": _pick(rng, _EVENTS, n),
        "deal": _pick(rng, _DEALS, n),
        "doc": _pick(rng, _DOCS, n),
    }
    headlines = _fill_templates(rng, _NEWS_TEMPLATES, classes, fields)
    published = _timestamps(rng, rows["date"])
    has_body = rng.random(n) < 0.5
    body = np.where(  # type: ignore[call-overload]  # NumPy's stubs reject a None fill
        has_body,
        [f"{h}. The company did not comment further." for h in headlines],
        None,
    )
    labelled = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "doc_id": [f"N{i:07d}" for i in range(n)],
            "entity_id": rows["entity_id"].to_numpy(),
            "published_at": published,
            "headline": headlines,
            "body": body,
            "sentiment_label": np.where(labelled, classes, None),  # type: ignore[call-overload]
            "date": usable_date(published),
        }
    )


def _simulate_social(rng, panel: pd.DataFrame) -> pd.DataFrame:
    burst = np.zeros(len(panel))
    # Bursts: an AR(1) per entity, with jumps when a news shock meets a stressed regime.
    order = panel.sort_values(["entity_id", "date"]).index.to_numpy()
    ent = panel.loc[order, "entity_id"].to_numpy()
    hot = ((panel.loc[order, "S"].to_numpy() > 1.0) & (panel.loc[order, "V"].to_numpy() > 0.5))
    innovations = 0.5 * rng.standard_normal(len(order)) + 1.5 * hot
    acc = 0.0
    for i in range(len(order)):
        if i == 0 or ent[i] != ent[i - 1]:
            acc = 0.0
        acc = 0.8 * acc + innovations[i]
        burst[order[i]] = acc
    rate = 0.8 * np.exp(0.6 * burst + 0.2 * panel["V"].to_numpy() - 0.3)
    counts = rng.poisson(np.minimum(rate, 30))
    rows = panel.loc[panel.index.repeat(counts)].reset_index(drop=True)
    n = len(rows)
    tone = -(
        0.45 * rows["S"].to_numpy() + 0.25 * rows["D"].to_numpy() + 0.2 * rows["V"].to_numpy()
    ) + 1.0 * rng.standard_normal(n)
    classes = _tone_class(tone, -0.7, 0.7)
    chatter = rng.random(n) < 0.35
    classes = np.where(chatter, "neutral", classes)
    fields = {
        "tkr": rows["ticker"].to_numpy(),
        "neg": _pick(rng, _NEG_SLANG, n),
        "pos": _pick(rng, _POS_SLANG, n),
        "vol": _pick(rng, _VOL_WORDS, n),
    }
    texts = _fill_templates(rng, _SOCIAL_TEMPLATES, classes, fields)
    authors = np.minimum(rng.zipf(1.3, n), 5000)
    posted = _timestamps(rng, rows["date"])
    return pd.DataFrame(
        {
            "post_id": [f"P{i:08d}" for i in range(n)],
            "entity_id": rows["entity_id"].to_numpy(),
            "author_id": [f"@trader{a}" for a in authors],
            "posted_at": posted,
            "text": texts,
            "date": usable_date(posted),
        }
    )


def _iso(stamps: pd.Series, rng, dirt: bool) -> pd.Series:
    """Serialize UTC instants the way feeds do: mostly Z, some with offsets, some naive."""
    utc = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not dirt:
        return utc
    n = len(stamps)
    style = rng.random(n)
    ny = stamps.dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    tokyo = stamps.dt.tz_convert("Asia/Tokyo").dt.strftime("%Y-%m-%d %H:%M:%S%z")
    naive = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    out = np.where(style < 0.15, ny, np.where(style < 0.25, tokyo, np.where(style < 0.3, naive, utc)))
    return pd.Series(out, index=stamps.index, dtype=object)


def _inject_dirt(rng, universe: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    def rows(frame, share):
        return rng.random(len(frame)) < share

    def duplicate(frame, share):
        return pd.concat([frame, frame[rows(frame, share)]]).sort_values("date", kind="stable")

    prices = universe["prices"].copy()
    prices.loc[rows(prices, 0.002), "close"] = np.nan
    prices.loc[rows(prices, 0.001), "volume"] = -1.0
    bad_range = rows(prices, 0.001)
    prices.loc[bad_range, ["high", "low"]] = prices.loc[bad_range, ["low", "high"]].to_numpy()
    prices.loc[rows(prices, 0.0005), "open"] = 0.0
    universe["prices"] = duplicate(prices, 0.004)

    fundamentals = universe["fundamentals"].copy()
    for column in ("interest_coverage", "roa", "current_ratio"):
        fundamentals.loc[rows(fundamentals, 0.03), column] = np.nan
    fundamentals.loc[rows(fundamentals, 0.005), "log_total_assets"] = -5.0
    universe["fundamentals"] = duplicate(fundamentals, 0.01)

    news = universe["news"].copy()
    news.loc[rows(news, 0.01), "headline"] = ""
    news.loc[rows(news, 0.002), "entity_id"] = None
    news.loc[rows(news, 0.002), "published_at"] = "not a timestamp"
    universe["news"] = duplicate(news, 0.01)

    social = universe["social"].copy()
    empty = rows(social, 0.02)
    social.loc[empty, "text"] = _pick(rng, ("", "   ", None), int(empty.sum()))
    social.loc[rows(social, 0.001), "posted_at"] = "2099-01-01T00:00:00Z"
    universe["social"] = duplicate(social, 0.01)

    universe["events"] = duplicate(universe["events"], 0.2)
    return universe


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticUniverse:
    """Build the whole universe. Deterministic for a given config."""
    rng = np.random.default_rng(cfg.seed)
    first = pd.Timestamp(cfg.start) - pd.offsets.BDay(cfg.burn_in)
    days = business_days(first, cfg.end)
    sector_of_slot, occupant, defaulted, factors = _simulate_latent(cfg, rng, days)
    entities = _entity_table(rng, sector_of_slot, occupant)
    panel = _long_frame(days, occupant, factors, entities)
    defaulted_rows = defaulted[panel["t"].to_numpy(), panel["slot"].to_numpy()]

    prices = _simulate_prices(rng, panel, defaulted_rows)
    fundamentals = _simulate_fundamentals(rng, panel, days, pd.Timestamp(cfg.end))
    visible = panel[panel["date"] >= pd.Timestamp(cfg.start)].reset_index(drop=True)
    news = _simulate_news(rng, visible)
    social = _simulate_social(rng, visible)
    events = panel.loc[defaulted_rows, ["entity_id", "date"]].rename(columns={"date": "event_date"})
    events["event_type"] = "default"
    events["date"] = events["event_date"]

    start = pd.Timestamp(cfg.start)
    tables = {
        "prices": prices[prices["date"] >= start],
        "fundamentals": fundamentals[fundamentals["date"] >= start],
        "news": news[(news["date"] >= start) & (news["date"] <= pd.Timestamp(cfg.end))],
        "social": social[(social["date"] >= start) & (social["date"] <= pd.Timestamp(cfg.end))],
        "events": events[events["date"] >= start],
    }
    tables["news"] = tables["news"].assign(published_at=_iso(tables["news"]["published_at"], rng, cfg.dirt))
    tables["social"] = tables["social"].assign(posted_at=_iso(tables["social"]["posted_at"], rng, cfg.dirt))
    if cfg.dirt:
        tables = _inject_dirt(rng, tables)
    tables = {k: v.reset_index(drop=True) for k, v in tables.items()}
    latent = panel.loc[panel["date"] >= start, ["entity_id", "date", "D", "L", "V", "S", "z", "hazard"]]
    listed = entities[entities["entity_id"].isin(latent["entity_id"])]
    return SyntheticUniverse(
        config=cfg,
        entities=listed[["entity_id", "ticker", "name", "sector"]].reset_index(drop=True),
        latent=latent.reset_index(drop=True),
        **tables,
    )


@lru_cache(maxsize=4)
def cached_universe(cfg: SyntheticConfig) -> SyntheticUniverse:
    return generate(cfg)
