"""Cleaned canonical tables and the quarantine of every rejected row."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.catalog import table_preview
from mmrisk_dagster.partitions import daily_partitions, rows_by_partition, single_run, with_partition_metadata
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.cleaning import CLEANERS, CleaningResult, empty_quarantine

# cleaned asset name -> canonical table it cleans (raw asset is raw_<table>)
CLEANED = {
    "fundamentals": "fundamentals",
    "prices": "prices",
    "news": "news",
    "social": "social",
    "risk_events": "events",
}

_DESCRIPTIONS = {
    "fundamentals": "Typed fundamentals with `available_at`; out-of-range and duplicate filings quarantined.",
    "prices": "Typed OHLCV; null, non-positive, inconsistent and duplicate rows quarantined.",
    "news": "News with UTC `published_at`; empty, unparseable, future and duplicate docs quarantined.",
    "social": "Posts with UTC `posted_at` and pseudonymized `author_id` (keyed hash).",
    "risk_events": "Credit events (defaults), deduplicated.",
}


def run_cleaner(table: str, raw: pd.DataFrame, data_source: DataSourceResource) -> CleaningResult:
    if table == "social":
        return CLEANERS[table](raw, data_source.pseudonym_salt)
    return CLEANERS[table](raw)


def _cleaned_asset(name: str, table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        ins={"raw": dg.AssetIn(f"raw_{table}")},
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="cleaning",
        kinds={"pandas", "parquet"},
        description=_DESCRIPTIONS[name],
    )
    def _clean(context: dg.AssetExecutionContext, raw: pd.DataFrame, data_source: DataSourceResource) -> pd.DataFrame:
        result = run_cleaner(table, raw, data_source)
        raw_rows = rows_by_partition(raw, context.partition_keys)
        rejected = rows_by_partition(result.rejected, context.partition_keys)
        return with_partition_metadata(context, result.clean, lambda key, rows: {
            "rows_in": len(raw_rows[key]),
            "rows_quarantined": len(rejected[key]),
            "reasons": dg.MetadataValue.json(rejected[key]["reason"].value_counts().to_dict()),
        })

    return _clean


cleaned_assets = [_cleaned_asset(name, table) for name, table in CLEANED.items()]


@dg.asset(
    ins={f"raw_{table}": dg.AssetIn() for table in CLEANED.values()},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="cleaning",
    kinds={"pandas", "parquet"},
    description="Every row cleaning rejected: source table, natural key, reason code, detail and the raw payload.",
)
def quarantine(context: dg.AssetExecutionContext, data_source: DataSourceResource, **raw_tables: pd.DataFrame) -> pd.DataFrame:
    parts = [
        run_cleaner(name.removeprefix("raw_"), frame, data_source).rejected
        for name, frame in raw_tables.items()
    ]
    frame = pd.concat([p for p in parts if len(p)] or [empty_quarantine()], ignore_index=True)
    return with_partition_metadata(context, frame, lambda key, rows: {
        "reasons": table_preview(rows.groupby(["source", "reason"]).size().rename("rows").reset_index(), limit=50)
    })
