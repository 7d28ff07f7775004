"""Raw tables, read through the data-source resource, one business-day partition per day."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.partitions import daily_partitions, partition_dates, single_run, with_partition_metadata
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources import is_transient

# A transient read failure is retried with growing waits (1, 2, 4 s); any other error fails at
# once (retrying a malformed file only delays the message that says how to fix it).
SOURCE_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL)

RAW_TABLES = ("fundamentals", "prices", "news", "social", "events")

_DESCRIPTIONS = {
    "fundamentals": "Quarterly fundamentals or credit records, partitioned by the day they became public.",
    "prices": "Daily OHLCV prices as delivered by the source.",
    "news": "News documents as delivered (timestamps as written, any UTC offset).",
    "social": "Social-media posts as delivered (raw author handles, timestamps as written).",
    "events": "Credit events (defaults) used to build credit-risk labels.",
}


def _raw_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{table}",
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="sources",
        kinds={"pandas", "parquet"},
        description=_DESCRIPTIONS[table],
        retry_policy=SOURCE_RETRY_POLICY,
    )
    def _raw(context: dg.AssetExecutionContext, data_source: DataSourceResource) -> pd.DataFrame:
        dates = partition_dates(context)
        try:
            frame = data_source.read(table, dates[0], dates[-1])
        except Exception as error:
            if is_transient(error):
                raise  # SOURCE_RETRY_POLICY tries again
            raise dg.Failure(f"{type(error).__name__}: {error}", allow_retries=False) from error
        context.add_output_metadata({"source": data_source.kind})
        return with_partition_metadata(context, frame)

    return _raw


raw_assets = [_raw_asset(table) for table in RAW_TABLES]
