"""Social posts: dense, bursty, noisy tone, many authors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import usable_date
from mmrisk_dagster.sources.synthetic.text import fill_templates, pick, timestamps, tone_class
from mmrisk_dagster.sources.synthetic.vocabulary import NEG_SLANG, POS_SLANG, SOCIAL_TEMPLATES, VOL_WORDS


def simulate_social(rng, panel: pd.DataFrame) -> pd.DataFrame:
    burst = np.zeros(len(panel))
    # Bursts: an AR(1) per entity, with jumps when a news shock meets a stressed regime.
    order = panel.sort_values(["entity_id", "date"]).index.to_numpy()
    ent = panel.loc[order, "entity_id"].to_numpy()
    hot = (panel.loc[order, "S"].to_numpy() > 1.0) & (panel.loc[order, "V"].to_numpy() > 0.5)
    innovations = 0.5 * rng.standard_normal(len(order)) + 1.5 * hot
    acc = 0.0
    for i in range(len(order)):
        if i == 0 or ent[i] != ent[i - 1]:
            acc = 0.0
        acc = 0.8 * acc + innovations[i]
        burst[order[i]] = acc
    rate = 0.8 * np.exp(0.6 * burst + 0.2 * panel["V"].to_numpy() - 0.3)
    counts = rng.poisson(np.minimum(rate, 30))
    rows = panel.loc[panel.index.repeat(counts)].reset_index(drop=True)
    n = len(rows)
    tone = -(
        0.45 * rows["S"].to_numpy() + 0.25 * rows["D"].to_numpy() + 0.2 * rows["V"].to_numpy()
    ) + 1.0 * rng.standard_normal(n)
    classes = tone_class(tone, -0.7, 0.7)
    chatter = rng.random(n) < 0.35
    classes = np.where(chatter, "neutral", classes)
    fields = {
        "tkr": rows["ticker"].to_numpy(),
        "neg": pick(rng, NEG_SLANG, n),
        "pos": pick(rng, POS_SLANG, n),
        "vol": pick(rng, VOL_WORDS, n),
    }
    texts = fill_templates(rng, SOCIAL_TEMPLATES, classes, fields)
    authors = np.minimum(rng.zipf(1.3, n), 5000)
    posted = timestamps(rng, rows["date"])
    return pd.DataFrame(
        {
            "post_id": [f"P{i:08d}" for i in range(n)],
            "entity_id": rows["entity_id"].to_numpy(),
            "author_id": [f"@trader{a}" for a in authors],
            "posted_at": posted,
            "text": texts,
            "date": usable_date(posted),
        }
    )
