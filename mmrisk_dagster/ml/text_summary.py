"""Per entity-date text embeddings: the mean direction of the day's documents, then a summary of
the entity's text over the day and trailing horizons that the model's linear (wide) term reads.

* every text modality (`TEXT_SUMMARY`): log1p count and mean tone that day, then mean tone and
  log1p count over the trailing 5, 20 and 60 business days. The slow latent risks (distress, a
  run of bad news) show through daily noise only when averaged;
* posts also (`AUTHOR_SUMMARY`): how many distinct authors wrote about the entity in the last 20
  business days, the share of those posts by its most active author and the share that repeat a
  text posted in the window (campaigns and bots post the same thing again and again), and
  today's count against the mean of the 60 business days before (a burst).

A value at date t reads documents dated <= t only (`tests/unit/test_features.py` perturbs the
future).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_ordinal

TEXT_HORIZONS = (5, 20, 60)
AUTHOR_WINDOW = 20
BURST_BASELINE = 60
TEXT_LOOKBACK = max(*TEXT_HORIZONS, AUTHOR_WINDOW, BURST_BASELINE)
TEXT_SUMMARY = (
    "log_count",
    "tone",
    *(f"tone_{h}d" for h in TEXT_HORIZONS),
    *(f"log_count_{h}d" for h in TEXT_HORIZONS),
)
AUTHOR_SUMMARY = (
    f"log_authors_{AUTHOR_WINDOW}d",
    f"top_author_share_{AUTHOR_WINDOW}d",
    f"repeated_share_{AUTHOR_WINDOW}d",
    "burst",
)
# What each text modality's vector ends with, after the direction.
SUMMARIES = {"news": TEXT_SUMMARY, "social": TEXT_SUMMARY + AUTHOR_SUMMARY}
TEXT_MODALITIES = tuple(SUMMARIES)


def activity_columns(modality: str) -> list[int]:
    """Positions in the modality's summary of what a tabular model may read: counts and author
    behaviour, not the tone (the text encoder's reading of the content)."""
    return [i for i, name in enumerate(SUMMARIES[modality]) if "tone" not in name]


def trailing_sums(entity: np.ndarray, day: np.ndarray, values: np.ndarray, horizon: int) -> np.ndarray:
    """Per row, the sum of `values` over the same entity's rows whose business-day ordinal `day` is
    in (day - horizon, day]: rows must be sorted by entity, then day, with one row per entity-day."""
    codes = pd.factorize(entity)[0].astype(np.int64)
    key = codes * (int(day.max()) + horizon + 1) + day  # sorted; an entity's keys never reach the next's
    start = np.searchsorted(key, key - horizon, side="right")
    total = np.cumsum(values, axis=0)
    before = np.where((start > 0)[:, None] if values.ndim > 1 else start > 0, total[start - 1], 0.0)
    return total - before


def _window_counts(entity: np.ndarray, day: np.ndarray, item: np.ndarray, horizon: int) -> pd.Series:
    """Posts per (entity, day, item) over the trailing window ending that day: each (entity, item,
    day) count is spread over the `horizon` business days it falls in."""
    daily = pd.DataFrame({"entity": entity, "item": item, "day": day}).value_counts().rename("n").reset_index()
    spread = daily.loc[daily.index.repeat(horizon)]
    spread = spread.assign(day=spread["day"].to_numpy() + np.tile(np.arange(horizon), len(daily)))
    return spread.groupby(["entity", "day", "item"], sort=False)["n"].sum()


def author_behaviour(
    docs: pd.DataFrame, author_column: str, text_column: str, entity: np.ndarray, day: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """`AUTHOR_SUMMARY` for the entity-days (`entity`, `day`: sorted, one row each, with `counts`
    documents) of `docs`."""
    doc_entity = docs["entity_id"].to_numpy()
    doc_day = business_day_ordinal(docs["date"])
    text = docs[text_column].fillna("").str.lower().str.split().str.join(" ").to_numpy()
    by_author = _window_counts(doc_entity, doc_day, docs[author_column].fillna("").to_numpy(), AUTHOR_WINDOW)
    by_text = _window_counts(doc_entity, doc_day, text, AUTHOR_WINDOW)
    authors = by_author.groupby(level=[0, 1], sort=False).agg(["sum", "max", "size"])
    repeated = by_text.where(by_text > 1, 0).groupby(level=[0, 1], sort=False).sum()
    wanted = pd.MultiIndex.from_arrays([entity, day])
    authors = authors.reindex(wanted).to_numpy(np.float64)
    repeated = repeated.reindex(wanted).to_numpy(np.float64)
    total = np.maximum(authors[:, 0], 1.0)
    before = trailing_sums(entity, day, counts, BURST_BASELINE + 1) - counts
    burst = np.log1p(counts) - np.log1p(before / BURST_BASELINE)
    return np.stack([np.log1p(authors[:, 2]), authors[:, 1] / total, repeated / total, burst], axis=1)


def aggregate_text(
    docs: pd.DataFrame,
    vectors: np.ndarray,
    tone_axis: np.ndarray,
    dates=None,
    author_column: str | None = None,
    text_column: str = "text",
) -> pd.DataFrame:
    """entity_id, date, vector, n_items (, n_authors) per entity-date with documents, for `dates`
    (every date of `docs` without). The vector is the mean direction of the day's document vectors
    followed by `TEXT_SUMMARY` (each document's tone is its vector on `tone_axis`) and, with
    `author_column`, by `AUTHOR_SUMMARY` (repeats judged on `text_column`). `docs` must reach
    `TEXT_LOOKBACK` business days before the first of `dates` for the windows to be whole."""
    if len(docs) == 0:
        columns = {"entity_id": [], "date": pd.Series(dtype="datetime64[ns]"), "vector": [], "n_items": []}
        return pd.DataFrame(columns)
    # Entity-days sorted by entity, then date: the order the trailing sums need.
    index = pd.MultiIndex.from_frame(docs[["entity_id", "date"]].reset_index(drop=True))
    uniques = index.unique().sort_values()
    group_ids = uniques.get_indexer(index)
    sums = np.zeros((len(uniques), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, group_ids, vectors)
    counts = np.bincount(group_ids, minlength=len(uniques)).astype(np.float64)
    tone_sums = np.bincount(group_ids, weights=vectors @ tone_axis, minlength=len(uniques))
    means = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    entity = uniques.get_level_values(0).to_numpy()
    day = business_day_ordinal(uniques.get_level_values(1))
    windows = [trailing_sums(entity, day, np.stack([tone_sums, counts], axis=1), h) for h in TEXT_HORIZONS]
    summary = np.stack(
        [
            np.log1p(counts),
            tone_sums / counts,
            *(w[:, 0] / w[:, 1] for w in windows),
            *(np.log1p(w[:, 1]) for w in windows),
        ],
        axis=1,
    )
    if author_column is not None:
        summary = np.hstack([summary, author_behaviour(docs, author_column, text_column, entity, day, counts)])
    out = pd.DataFrame(
        {
            "entity_id": entity,
            "date": uniques.get_level_values(1),
            "vector": list(np.hstack([means, summary]).astype(np.float32)),
            "n_items": counts.astype(np.int64),
        }
    )
    if author_column is not None:
        authors = pd.Series(docs[author_column].to_numpy()).groupby(group_ids).nunique()
        out["n_authors"] = authors.reindex(range(len(uniques))).to_numpy()
    if dates is not None:
        out = out[out["date"].isin(pd.DatetimeIndex(dates))]
    return out.sort_values(["date", "entity_id"], ignore_index=True)
