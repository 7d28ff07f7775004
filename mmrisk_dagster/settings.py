"""Process-wide settings read from the environment.

Dagster builds definitions (partitions, resources) when the code location loads, so the few
choices that shape the graph itself come from environment variables; everything else is run
config or resource config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

# Kept here, not beside the encoders, so that reading the settings loads no model code.
TEXT_ENCODERS = ("minilm", "hashing")
TEXT_BACKENDS = ("onnx", "onnx-int8", "torch")
DEFAULT_START = "2024-01-01"
DEFAULT_END = "2025-12-31"
# StockNet's published split (Xu & Cohen 2018): train to 2015-08-01 with its last two months
# selecting the epoch (validation), dev (our gate split) to 2015-10-01, test to 2016-01-01.
STOCKNET_SPLIT_DATES = ("2015-06-01", "2015-08-01", "2015-10-01", "2016-01-01")
STOCKNET_TEST_QUARTER_START = STOCKNET_SPLIT_DATES[2]
# The dev cut of the archive ends before the test quarter: the settings then split inside it
# (`stocknet_window`), validation Apr-May, gate Jun-Jul, and the published dev months as test.
DEV_ARCHIVE_END = "2015-09-30"
DEV_ARCHIVE_SPLIT_DATES = ("2015-04-01", "2015-06-01", "2015-08-01")
DEFAULT_SPLIT_DATES: dict[str, tuple[str, ...]] = {"stocknet": STOCKNET_SPLIT_DATES}
# A real dataset's own period is the default partition range (StockNet: 2014-2015).
DEFAULT_PERIODS = {"stocknet": ("2014-01-01", "2015-12-31")}


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    source_path: str
    start_date: date
    end_date: date
    synthetic_entities: int
    seed: int
    # The demo's universe is a distressed one: at 5 defaults per slot-year, 50 companies over two
    # years give 30-40+ default events in each of the gate and test splits, enough to rank models.
    synthetic_default_rate: float = 5.0
    split_dates: tuple[str, ...] = ()
    horizon_days: int = 20
    entities: tuple[str, ...] = ()
    text_encoder: str = "minilm"
    text_backend: str = "onnx"

    @classmethod
    def from_env(cls) -> Settings:
        source = os.environ.get("MMRISK_SOURCE", "synthetic")
        source_path = os.environ.get("MMRISK_SOURCE_PATH", "")
        start, end = DEFAULT_PERIODS.get(source, (DEFAULT_START, DEFAULT_END))
        split_dates = DEFAULT_SPLIT_DATES.get(source, ())
        if source == "stocknet" and source_path:
            end, split_dates = stocknet_window(source_path)
        return cls(
            home=Path(os.environ.get("MMRISK_HOME", ".mmrisk")).resolve(),
            source=source,
            source_path=source_path,
            start_date=date.fromisoformat(os.environ.get("MMRISK_START_DATE", start)),
            end_date=date.fromisoformat(os.environ.get("MMRISK_END_DATE", end)),
            synthetic_entities=int(os.environ.get("MMRISK_SYNTHETIC_ENTITIES", "50")),
            seed=int(os.environ.get("MMRISK_SEED", "7")),
            synthetic_default_rate=float(os.environ.get("MMRISK_SYNTHETIC_DEFAULT_RATE", "5.0")),
            split_dates=split_dates_from_env(split_dates),
            horizon_days=int(os.environ.get("MMRISK_HORIZON_DAYS", "20")),
            entities=tuple(e.strip() for e in os.environ.get("MMRISK_ENTITIES", "").split(",") if e.strip()),
            text_encoder=os.environ.get("MMRISK_TEXT_ENCODER", "minilm"),
            text_backend=os.environ.get("MMRISK_TEXT_BACKEND", "onnx"),
        )

    def __post_init__(self):
        from mmrisk_dagster.sources import SOURCE_KINDS

        if self.source not in SOURCE_KINDS:
            raise ValueError(f"MMRISK_SOURCE='{self.source}' is not a source; choose one of {SOURCE_KINDS}")
        # Checked when the code location loads, not when the first text is encoded mid-run.
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(
                f"MMRISK_TEXT_ENCODER='{self.text_encoder}' is not an encoder; choose one of {TEXT_ENCODERS}"
            )
        if self.text_backend not in TEXT_BACKENDS:
            raise ValueError(
                f"MMRISK_TEXT_BACKEND='{self.text_backend}' is not a backend; choose one of {TEXT_BACKENDS}"
            )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def split_dates_from_env(default: tuple[str, ...]) -> tuple[str, ...]:
    """`MMRISK_SPLIT_DATES` (comma-separated ISO dates; empty for the fractions), else `default`."""
    raw = os.environ.get("MMRISK_SPLIT_DATES")
    if raw is None:
        return default
    return tuple(d.strip() for d in raw.split(",") if d.strip())


def stocknet_window(path: str) -> tuple[str, tuple[str, ...]]:
    """The default end date and split dates for the StockNet archive at `path`: the published
    split when its prices reach the test quarter; for a dev cut that stops before it, a split
    inside it whose test split is the published dev months. (An archive that cannot be read keeps
    the published defaults: the raw assets' preflight then names the problem.)"""
    from mmrisk_dagster.sources.files import SourceDataError
    from mmrisk_dagster.sources.stocknet import last_price_date

    try:
        covers_test_quarter = last_price_date(path) >= datetime.fromisoformat(STOCKNET_TEST_QUARTER_START)
    except SourceDataError:
        covers_test_quarter = True
    if covers_test_quarter:
        return DEFAULT_PERIODS["stocknet"][1], STOCKNET_SPLIT_DATES
    return DEV_ARCHIVE_END, DEV_ARCHIVE_SPLIT_DATES
