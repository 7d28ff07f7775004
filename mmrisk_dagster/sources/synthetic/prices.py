"""Daily prices (OHLCV) driven by the volatility regime and distress."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_prices(rng, panel: pd.DataFrame, defaulted_rows: np.ndarray) -> pd.DataFrame:
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
    frame["high"] = np.maximum(frame["open"], frame["close"]) * np.exp(np.abs(wick_scale * rng.standard_normal(n)))
    frame["low"] = np.minimum(frame["open"], frame["close"]) * np.exp(-np.abs(wick_scale * rng.standard_normal(n)))
    log_volume = (
        frame["base_volume"] + 0.5 * frame["V"] + 0.2 * frame["D"] + 12 * np.abs(returns) + 0.3 * rng.standard_normal(n)
    )
    frame["volume"] = np.round(np.exp(log_volume))
    return frame[["entity_id", "date", "open", "high", "low", "close", "volume"]]
