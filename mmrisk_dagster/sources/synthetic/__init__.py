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

The latent risk is ``z = (0.8 D + 0.7 L + 0.7 V + 0.7 S) / norm`` and the daily default hazard is
``sigmoid(a + 2 z)`` (``a`` sets the annual default rate). Because L, V and S are independent
and each is seen by one modality only, no single modality recovers ``z`` as well as all of them
together; ``tests/unit/test_synthetic.py`` shows it with a linear probe on observable features. A defaulted company
stops trading; after `relist_gap` business days a new company takes the slot with no history,
so new listings exercise the missing-modality paths.

Realistic dirt (``dirt=True``): duplicated rows, nulls, out-of-range values (negative volume,
high < low, non-positive prices, negative assets), timestamps with non-UTC offsets or naive,
unparseable and future timestamps, empty texts and null entity ids. Cleaning must handle all.

Modules: `vocabulary` (words, templates, names), `universe` (config and result), `latent` (the
latent process), one per table (`prices`, `fundamentals`, `news`, `social`, with `text` shared
by the last two) and `dirt`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_days
from mmrisk_dagster.sources.synthetic.dirt import inject_dirt, iso
from mmrisk_dagster.sources.synthetic.fundamentals import simulate_fundamentals
from mmrisk_dagster.sources.synthetic.latent import entity_table, long_frame, simulate_latent
from mmrisk_dagster.sources.synthetic.news import simulate_news
from mmrisk_dagster.sources.synthetic.prices import simulate_prices
from mmrisk_dagster.sources.synthetic.social import simulate_social
from mmrisk_dagster.sources.synthetic.universe import SyntheticConfig, SyntheticUniverse
from mmrisk_dagster.sources.synthetic.vocabulary import NEGATIVE_WORDS, POSITIVE_WORDS

__all__ = ["NEGATIVE_WORDS", "POSITIVE_WORDS", "SyntheticConfig", "SyntheticUniverse", "cached_universe", "generate"]


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticUniverse:  # noqa: B008 (frozen)
    """Build the whole universe. Deterministic for a given config."""
    rng = np.random.default_rng(cfg.seed)
    first = pd.Timestamp(cfg.start) - pd.offsets.BDay(cfg.burn_in)
    days = business_days(first, cfg.end)
    sector_of_slot, occupant, defaulted, factors = simulate_latent(cfg, rng, days)
    entities = entity_table(rng, sector_of_slot, occupant)
    panel = long_frame(days, occupant, factors, entities)
    defaulted_rows = defaulted[panel["t"].to_numpy(), panel["slot"].to_numpy()]

    prices = simulate_prices(rng, panel, defaulted_rows)
    fundamentals = simulate_fundamentals(rng, panel, days, pd.Timestamp(cfg.end))
    visible = panel[panel["date"] >= pd.Timestamp(cfg.start)].reset_index(drop=True)
    news = simulate_news(rng, visible)
    social = simulate_social(rng, visible)
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
    tables["news"] = tables["news"].assign(published_at=iso(tables["news"]["published_at"], rng, cfg.dirt))
    tables["social"] = tables["social"].assign(posted_at=iso(tables["social"]["posted_at"], rng, cfg.dirt))
    if cfg.dirt:
        tables = inject_dirt(rng, tables)
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
