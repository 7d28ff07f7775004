"""News headlines and bodies: sparse, accurate tone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import usable_date
from mmrisk_dagster.sources.synthetic.text import fill_templates, pick, timestamps, tone_class
from mmrisk_dagster.sources.synthetic.vocabulary import (
    DEALS,
    DOCS,
    EVENTS,
    NEGATIVE_TOPICS,
    NEWS_TEMPLATES,
    POSITIVE_TOPICS,
)


def simulate_news(rng, panel: pd.DataFrame) -> pd.DataFrame:
    shock, dis = panel["S"].to_numpy(), panel["D"].to_numpy()
    rate = 0.08 * (1 + 1.5 * np.abs(shock) + 0.5 * np.maximum(dis, 0))
    counts = rng.poisson(rate)
    rows = panel.loc[panel.index.repeat(counts)].reset_index(drop=True)
    n = len(rows)
    tone = -(0.8 * rows["S"].to_numpy() + 0.4 * rows["D"].to_numpy()) + 0.5 * rng.standard_normal(n)
    classes = tone_class(tone)
    fields = {
        "name": rows["name"].to_numpy(),
        "sector": rows["sector"].str.lower().to_numpy(),
        "neg": pick(rng, NEGATIVE_TOPICS, n),
        "pos": pick(rng, POSITIVE_TOPICS, n),
        "event": pick(rng, EVENTS, n),
        "deal": pick(rng, DEALS, n),
        "doc": pick(rng, DOCS, n),
    }
    headlines = fill_templates(rng, NEWS_TEMPLATES, classes, fields)
    published = timestamps(rng, rows["date"])
    has_body = rng.random(n) < 0.5
    body = np.where(  # type: ignore[call-overload]  # NumPy's stubs reject a None fill
        has_body,
        [f"{h}. The company did not comment further." for h in headlines],
        None,
    )
    labelled = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "doc_id": [f"N{i:07d}" for i in range(n)],
            "entity_id": rows["entity_id"].to_numpy(),
            "published_at": published,
            "headline": headlines,
            "body": body,
            "sentiment_label": np.where(labelled, classes, None),  # type: ignore[call-overload]
            "date": usable_date(published),
        }
    )
