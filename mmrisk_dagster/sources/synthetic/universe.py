"""The synthetic universe's configuration and the tables plus ground truth it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd


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
