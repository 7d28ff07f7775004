"""The business-day calendar that every partitioned table shares.

A record becomes usable on the first business day on or after the UTC calendar day it was
published: weekend news counts for Monday. Features for business day t use only records whose
usable date is <= t, which is what makes every feature point-in-time correct.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def business_days(start: date | str, end: date | str) -> pd.DatetimeIndex:
    return pd.bdate_range(pd.Timestamp(start), pd.Timestamp(end))


def usable_date(timestamps_utc: pd.Series) -> pd.Series:
    """Business day on which a UTC timestamp's record may first be used (NaT stays NaT)."""
    days = pd.to_datetime(timestamps_utc, utc=True).dt.tz_localize(None).dt.normalize()
    valid = days.notna()
    out = pd.Series(pd.NaT, index=days.index, dtype="datetime64[ns]")
    if valid.any():
        rolled = np.busday_offset(days[valid].values.astype("datetime64[D]"), 0, roll="forward")
        out[valid] = pd.to_datetime(rolled)
    return out


def business_day_offset(days: pd.Series | pd.DatetimeIndex, offset: int) -> np.ndarray:
    """Shift business days by `offset` business days (vectorized)."""
    values = np.asarray(pd.DatetimeIndex(days).values.astype("datetime64[D]"))
    return np.busday_offset(values, offset, roll="forward").astype("datetime64[ns]")


def business_days_between(earlier: pd.Series, later: pd.Series) -> np.ndarray:
    """Number of business days from `earlier` to `later` (0 when equal)."""
    a = pd.DatetimeIndex(earlier).values.astype("datetime64[D]")
    b = pd.DatetimeIndex(later).values.astype("datetime64[D]")
    return np.busday_count(a, b)


_EPOCH = np.datetime64("1970-01-01", "D")


def business_day_ordinal(dates) -> np.ndarray:
    """Business days since 1970-01-01: differences of ordinals count business days."""
    return np.busday_count(_EPOCH, pd.DatetimeIndex(dates).values.astype("datetime64[D]"))
