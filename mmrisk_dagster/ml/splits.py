"""Chronological train / validation / gate / test splits with an embargo before each boundary.

Kept apart from the training loop so that the preflight and the panel can split dates without
importing torch."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "gate", "test")


@dataclass(frozen=True)
class SplitSpec:
    """A chronological train / validation / gate / test split.

    By fractions of the distinct dates (test takes the rest) or, when `boundaries` is given, by
    dates: the first day of validation, of the gate split and of test, and optionally the day
    test ends (exclusive). Validation early-stops and calibrates; the gate split is read only by
    the model gate; test only reports. The last `embargo_days` dates before each boundary are
    dropped so that no label (which looks up to the horizon ahead) reaches into a later split.
    """

    train_fraction: float = 0.5
    validation_fraction: float = 0.15
    gate_fraction: float = 0.15
    embargo_days: int = 20
    boundaries: tuple[str, ...] = ()

    def __post_init__(self):
        if self.boundaries:
            if len(self.boundaries) not in (3, 4):
                raise ValueError(
                    f"split dates {list(self.boundaries)}: give the first day of validation, gate and test "
                    "and optionally the day test ends (3 or 4 ISO dates)"
                )
            days = [pd.Timestamp(b) for b in self.boundaries]
            if any(later <= earlier for earlier, later in itertools.pairwise(days)):
                raise ValueError(f"split dates {list(self.boundaries)} must increase strictly")
        fractions = (self.train_fraction, self.validation_fraction, self.gate_fraction)
        if min(fractions) <= 0 or sum(fractions) >= 1:
            raise ValueError(
                f"split fractions train {self.train_fraction}, validation {self.validation_fraction}, gate "
                f"{self.gate_fraction} must be positive and leave a test share (sum below 1)"
            )
        if self.embargo_days < 0:
            raise ValueError(f"embargo_days={self.embargo_days} must be 0 or more")

    def describe(self) -> str:
        if self.boundaries:
            return f"split at {', '.join(self.boundaries)}"
        return f"{self.train_fraction:.0%}/{self.validation_fraction:.0%}/{self.gate_fraction:.0%} train/validation/gate split"


def chronological_split(dates, spec: SplitSpec) -> dict[str, pd.DatetimeIndex]:
    """Train, validation, gate and test dates in time order, with the embargo before each boundary."""
    unique = pd.DatetimeIndex(sorted(pd.DatetimeIndex(dates).unique()))
    n = len(unique)
    if spec.boundaries:
        edges = [0, *(int(unique.searchsorted(pd.Timestamp(b))) for b in spec.boundaries)]
        if len(edges) == 4:
            edges.append(n)
    else:
        train = int(n * spec.train_fraction)
        validation = train + int(n * spec.validation_fraction)
        edges = [0, train, validation, validation + int(n * spec.gate_fraction), n]
    span = f"{unique[0].date()}..{unique[-1].date()}" if n else "no dates"
    split = {}
    for i, name in enumerate(SPLITS):
        low, high = edges[i], edges[i + 1]
        kept = high if name == "test" else max(low, high - spec.embargo_days)
        if kept <= low:
            embargo = f" less the {spec.embargo_days}-day embargo before the next split" if kept < high else ""
            raise ValueError(
                f"the {name} split is empty: {n} dates ({span}) give it {high - low}{embargo} under the "
                f"{spec.describe()}. Use a longer partition range, other split fractions or dates, or a shorter "
                "horizon_days and embargo_days (TrainingWindowResource; MMRISK_SPLIT_DATES, MMRISK_HORIZON_DAYS)"
            )
        split[name] = unique[low:kept]
    return split


def split_index(keys: pd.DataFrame, split: dict[str, pd.DatetimeIndex]) -> dict[str, np.ndarray]:
    dates = pd.DatetimeIndex(keys["date"])
    return {name: np.flatnonzero(dates.isin(days)) for name, days in split.items()}
