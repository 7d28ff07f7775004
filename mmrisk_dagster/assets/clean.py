"""Cleaned canonical tables and the quarantine of every rejected row.

Each table is cleaned once, by one step with two outputs: the clean rows and the rows it
rejected (`<name>_rejected`). `quarantine` is the union of the rejected rows, so it never cleans
again, and each table's `rows_conserved` check reads only its own rejected rows: a raw table
whose suite fails blocks its own lineage, not every other table's.
"""

import dagster as dg
import pandas as pd

from mmrisk_dagster.catalog import table_preview
from mmrisk_dagster.partitions import daily_partitions, rows_by_partition, single_run, with_partition_metadata
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.cleaning import clean
from mmrisk_dagster.sources.rejection import empty_quarantine

# cleaned asset name -> canonical table it cleans (raw asset is raw_<table>)
CLEANED = {
    "fundamentals": "fundamentals",
    "prices": "prices",
    "news": "news",
    "social": "social",
    "risk_events": "events",
}
ENTITY_ID_CHANGES_SHOWN = 50  # raw spellings listed in the metadata (the count covers all)

_DESCRIPTIONS = {
    "fundamentals": "Typed fundamentals with `available_at`; out-of-range and duplicate filings quarantined.",
    "prices": "Typed OHLCV; null, non-finite, absurd, non-positive, inconsistent and duplicate rows quarantined.",
    "news": "News with UTC `published_at`; empty, unparseable, future and duplicate docs quarantined.",
    "social": "Posts with UTC `posted_at` and pseudonymized `author_id` (keyed HMAC-SHA256).",
    "risk_events": "Credit events (defaults), deduplicated.",
}


def rejected_name(name: str) -> str:
    return f"{name}_rejected"


def _cleaned_asset(name: str, table: str) -> dg.AssetsDefinition:
    outs = {
        name: dg.AssetOut(description=_DESCRIPTIONS[name], kinds={"pandas", "parquet"}, is_required=False),
        rejected_name(name): dg.AssetOut(
            description=f"The rows of raw_{table} that cleaning rejected, with reason (the quarantine's `{table}` part).",
            kinds={"pandas", "parquet"},
            is_required=False,
        ),
    }

    @dg.multi_asset(
        name=f"clean_{table}",
        outs=outs,
        ins={"raw": dg.AssetIn(f"raw_{table}")},
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="cleaning",
        can_subset=True,
    )
    def _clean(context: dg.AssetExecutionContext, raw: pd.DataFrame, data_source: DataSourceResource):
        result = clean(table, raw, data_source.salt())
        changes = result.entity_id_changes
        raw_rows = rows_by_partition(raw, context.partition_keys)
        rejected = rows_by_partition(result.rejected, context.partition_keys)
        if dg.AssetKey(name) in context.selected_asset_keys:
            with_partition_metadata(
                context,
                result.clean,
                lambda key, rows: {
                    "rows_in": len(raw_rows[key]),
                    "rows_quarantined": len(rejected[key]),
                    "reasons": dg.MetadataValue.json(rejected[key]["reason"].value_counts().to_dict()),
                },
                asset_key=name,
            )
            yield dg.Output(
                result.clean,
                output_name=name,
                metadata={
                    "entity_ids_normalized_in_run": len(changes),
                    "entity_id_changes": dg.MetadataValue.json(dict(list(changes.items())[:ENTITY_ID_CHANGES_SHOWN])),
                },
            )
        if dg.AssetKey(rejected_name(name)) in context.selected_asset_keys:
            with_partition_metadata(context, result.rejected, asset_key=rejected_name(name))
            yield dg.Output(result.rejected, output_name=rejected_name(name))

    return _clean


cleaned_assets = [_cleaned_asset(name, table) for name, table in CLEANED.items()]


@dg.asset(
    ins={rejected_name(name): dg.AssetIn() for name in CLEANED},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="cleaning",
    kinds={"pandas", "parquet"},
    description="Every row cleaning rejected: source table, natural key, reason code, detail and the raw "
    "payload (people's identifiers in it are pseudonyms, as in the clean tables).",
)
def quarantine(context: dg.AssetExecutionContext, **rejected: pd.DataFrame) -> pd.DataFrame:
    frame = pd.concat([p for p in rejected.values() if len(p)] or [empty_quarantine()], ignore_index=True)
    return with_partition_metadata(
        context,
        frame,
        lambda key, rows: {
            "reasons": table_preview(rows.groupby(["source", "reason"]).size().rename("rows").reset_index(), limit=50)
        },
    )
