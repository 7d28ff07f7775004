"""Realistic dirt injected into the raw tables (`SyntheticConfig.dirt`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.synthetic.text import pick


def iso(stamps: pd.Series, rng, dirt: bool) -> pd.Series:
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


def inject_dirt(rng, universe: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
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
    social.loc[empty, "text"] = pick(rng, ("", "   ", None), int(empty.sum()))
    social.loc[rows(social, 0.001), "posted_at"] = "2099-01-01T00:00:00Z"
    universe["social"] = duplicate(social, 0.01)

    universe["events"] = duplicate(universe["events"], 0.2)
    return universe
