"""Process-wide settings read from the environment.

Dagster builds definitions (partitions, resources) when the code location loads, so the few
choices that shape the graph itself come from environment variables; everything else is run
config or resource config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_START = "2024-01-01"
DEFAULT_END = "2025-12-31"


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    source_path: str
    start_date: date
    end_date: date
    synthetic_entities: int
    seed: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=Path(os.environ.get("MMRISK_HOME", ".mmrisk")).resolve(),
            source=os.environ.get("MMRISK_SOURCE", "synthetic"),
            source_path=os.environ.get("MMRISK_SOURCE_PATH", ""),
            start_date=date.fromisoformat(os.environ.get("MMRISK_START_DATE", DEFAULT_START)),
            end_date=date.fromisoformat(os.environ.get("MMRISK_END_DATE", DEFAULT_END)),
            synthetic_entities=int(os.environ.get("MMRISK_SYNTHETIC_ENTITIES", "50")),
            seed=int(os.environ.get("MMRISK_SEED", "7")),
        )

    def __post_init__(self):
        from mmrisk_dagster.sources import SOURCE_KINDS

        if self.source not in SOURCE_KINDS:
            raise ValueError(f"MMRISK_SOURCE='{self.source}' is not a source; choose one of {SOURCE_KINDS}")

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
