"""Quarterly fundamentals, published 25-70 days after the quarter ends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import usable_date
from mmrisk_dagster.sources.synthetic.vocabulary import FUNDAMENTAL_FEATURES


def quarter_ends(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.date_range(days[0], days[-1], freq="QE")


def simulate_fundamentals(rng, panel: pd.DataFrame, days: pd.DatetimeIndex, end: pd.Timestamp):
    quarter_days = np.searchsorted(days, quarter_ends(days), side="right") - 1
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
