"""Cleaned canonical tables and the quarantine of every rejected row."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.partitions import daily_partitions, single_run
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.cleaning import CleaningResult, clean, empty_quarantine

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
    return clean(table, raw, data_source.salt())


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
        context.add_output_metadata(
            {
                "rows_in": len(raw),
                "rows_quarantined": len(result.rejected),
                "reasons": dg.MetadataValue.json(result.rejected["reason"].value_counts().to_dict()),
            }
        )
        return result.clean

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
    context.add_output_metadata(
        {"by_source": dg.MetadataValue.json(frame.groupby("source").size().to_dict())}
    )
    return frame
