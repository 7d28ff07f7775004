"""What news and social posts share: template filling, tone classes, timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pick(rng, options, n):
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def timestamps(rng, dates: pd.Series) -> pd.Series:
    """A publication instant during the UTC day; some land on the preceding weekend."""
    n = len(dates)
    base = pd.to_datetime(dates).to_numpy()
    weekend = rng.random(n) < 0.12
    monday = pd.DatetimeIndex(base).dayofweek == 0
    shift_days = np.where(weekend & monday, rng.integers(1, 3, n), 0)
    seconds = rng.integers(0, 24 * 3600, n)
    stamps = pd.to_datetime(base) - pd.to_timedelta(shift_days, unit="D")
    return pd.Series(stamps + pd.to_timedelta(seconds, unit="s")).dt.tz_localize("UTC")


def tone_class(tone: np.ndarray, low=-0.5, high=0.5) -> np.ndarray:
    return np.where(tone < low, "negative", np.where(tone > high, "positive", "neutral"))


def fill_templates(rng, templates: dict, classes: np.ndarray, fields: dict[str, np.ndarray]):
    out = np.empty(len(classes), dtype=object)
    for cls, options in templates.items():
        idx = np.flatnonzero(classes == cls)
        chosen = pick(rng, options, len(idx))
        for i, template in zip(idx, chosen):
            out[i] = " ".join(template.format(**{k: v[i] for k, v in fields.items()}).split())
    return out
