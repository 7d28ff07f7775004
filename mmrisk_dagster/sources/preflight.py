"""Preflight: what can be known about a run before its expensive steps, said so a person can act.

The blocking checks of `checks.preflight` call these on the raw and cleaned tables, so that an
unusable table or a history too short for the training window stops the run before any
embedding or model step starts.
"""

from __future__ import annotations

import pandas as pd

from mmrisk_dagster.ml.labels import build_labels
from mmrisk_dagster.ml.splits import SPLITS, SplitSpec, chronological_split
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN

# A table whose rows are this unusable has lost its modality: stop rather than run without it.
NEARLY_ALL = 0.9
PRICE_LABELS = ("movement", "log_forward_vol")


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def _rows(count: int, total: int) -> str:
    return f"all {total:,} rows" if count == total else f"{count:,} of {total:,} rows"


def unusable_table(label: str, table: str, raw: pd.DataFrame, rejected: pd.DataFrame) -> str | None:
    """Why the table is (nearly) unusable, or None: a required column empty in nearly every row,
    or nearly every row quarantined. `label` names the table's file for the message."""
    total = len(raw)
    if total == 0:
        return None
    contract = CONTRACTS[table]
    for column in contract.required:
        if column in contract.optional or column == PARTITION_COLUMN:
            continue
        blank = int(_blank(raw[column]).sum())
        if blank >= NEARLY_ALL * total:
            return (
                f"{label}: column '{column}' is empty in {_rows(blank, total)}; the column is required "
                f"(optional ones: {list(contract.optional) or 'none'}): fill it in the source, or name the "
                "source column that holds it so"
            )
    if len(rejected) >= NEARLY_ALL * total:
        reasons = rejected.groupby(["reason", "detail"]).size().sort_values(ascending=False)
        (reason, detail), count = next(iter(reasons.items()))
        return (
            f"{label}: {_rows(len(rejected), total)} were quarantined, {count:,} of them for {reason} ({detail}); "
            "fix those values in the source (the quarantine table holds every row with its reason)"
        )
    return None


# Sources that hold one cross-section, not a daily history: the daily graph has nothing to train on.
CROSS_SECTION_SOURCES = {
    "phrasebank": "its sentences carry no date and no company (all are one entity on one day); its "
    "sentiment task runs in `python -m benchmarks.real_data --phrasebank FILE`",
    "uci_credit": "it is one snapshot of credit records (September 2005) with the defaults of the month "
    "after; its credit-default task runs in `python -m benchmarks.real_data --uci FILE`",
}


def no_history_problem(source_kind: str, tables_with_rows: list[str], first: str, last: str) -> str | None:
    """Why no training window can exist, or None: a cross-section source, or no cleaned table with
    a row in the partition range `first`..`last`."""
    if source_kind in CROSS_SECTION_SOURCES:
        return (
            f"the {source_kind} source cannot train the daily graph: {CROSS_SECTION_SOURCES[source_kind]}. "
            "Its raw and cleaned assets and their checks run on their own (select group:sources and group:cleaning)"
        )
    if not tables_with_rows:
        return (
            f"no cleaned table holds a row in the partition range {first}..{last}: set MMRISK_START_DATE and "
            "MMRISK_END_DATE to the data's dates, or check MMRISK_SOURCE and MMRISK_SOURCE_PATH"
        )
    return None


def training_window_problem(prices: pd.DataFrame, spec: SplitSpec, horizon: int) -> str | None:
    """Why the price history cannot feed the configured split, or None: a split left empty by
    the range, fractions or dates and embargo, or a split without any price label."""
    if prices.empty:
        return None
    dates = pd.DatetimeIndex(prices[PARTITION_COLUMN].unique())
    try:
        split = chronological_split(dates, spec)
    except ValueError as error:
        return f"prices: {error}"
    labels = build_labels(prices, pd.DataFrame(columns=["entity_id", "event_date", "event_type"]), None, horizon)
    for name in SPLITS:
        rows = labels[labels["date"].isin(split[name])]
        if not rows[list(PRICE_LABELS)].notna().any().any():
            return (
                f"prices: the {name} split ({split[name][0].date()}..{split[name][-1].date()}) has no movement "
                f"or forward-volatility label (each needs later prices, up to {horizon} business days); "
                "use a longer partition range or a shorter horizon_days"
            )
    return None
