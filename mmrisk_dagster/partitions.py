"""Business-day partitions shared by every time-based asset, and the lookback mappings.

One partition per weekday (Mon-Fri, UTC). Start and end come from `MMRISK_START_DATE` and
`MMRISK_END_DATE` (defaults: the synthetic universe's two years).
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from mmrisk_dagster.catalog import written_schema
from mmrisk_dagster.settings import Settings
from mmrisk_dagster.sources.contract import PARTITION_COLUMN

_settings = Settings.from_env()


def business_day_partitions(start: date, end: date) -> dg.TimeWindowPartitionsDefinition:
    """One partition per weekday from `start` to `end`, both included."""
    # A partition exists once its window has closed, and a weekday window closes at the next
    # weekday's midnight (Friday's on Monday): the definition ends at the weekday after `end`.
    after_end = end + timedelta(days=1)
    while after_end.weekday() >= 5:
        after_end += timedelta(days=1)
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5", start=start.isoformat(), end=after_end.isoformat(), fmt="%Y-%m-%d", timezone="UTC"
    )


daily_partitions = business_day_partitions(_settings.start_date, _settings.end_date)

# A range backfill of any partitioned asset is one vectorized run, not one run per day. The
# unpartitioned assets carry it too: the CLI's `--partition-range` requires it of every selected asset.
single_run = dg.BackfillPolicy.single_run()


def range_run_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions [first, last] (a single-run backfill).

    Dagster's documented run tags for a partition range; it exports no public constant for
    them, and the tests' range runs fail if Dagster ever renames them.
    """
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def lookback(business_days: int) -> dg.TimeWindowPartitionMapping:
    """Upstream partitions [t - business_days, t] for downstream partition t."""
    return dg.TimeWindowPartitionMapping(start_offset=-business_days, allow_nonexistent_upstream_partitions=True)


def partition_dates(context: dg.AssetExecutionContext) -> pd.DatetimeIndex:
    """The business days this run materializes (one, or a whole backfill range)."""
    return pd.DatetimeIndex(pd.to_datetime(context.partition_keys))


def rows_by_partition(frame: pd.DataFrame, partition_keys: list[str]) -> dict[str, pd.DataFrame]:
    """The rows of each partition key (`date` formatted as the key); no rows for a key without any."""
    keys = pd.to_datetime(frame[PARTITION_COLUMN]).dt.strftime("%Y-%m-%d")
    groups = dict(tuple(frame.groupby(keys, sort=False))) if len(frame) else {}
    return {key: groups.get(key, frame.iloc[:0]) for key in partition_keys}


def with_partition_metadata(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    figures: Callable[[str, pd.DataFrame], dict] | None = None,
    asset_key: str | None = None,
) -> pd.DataFrame:
    """Record each partition's own row count (and `figures(key, rows)`) on its materialization
    (of `asset_key`, for a step that materializes several assets), and the columns written on the
    run's last partition.

    Output metadata of a range run lands on every partition of the range alike, so a day would
    show the whole range's total: per-partition figures go through `add_asset_metadata`. The
    column schema is the same for every partition of a run; the UI reads it from the latest
    materialization, and carried on all of them it was two thirds of each event's size (the
    bulk of a range run's event-log cost).
    """
    key_of_asset = dg.AssetKey(asset_key) if asset_key else context.asset_key
    declared = context.assets_def.specs_by_key[key_of_asset].metadata.get("dagster/column_schema")
    partitions = rows_by_partition(frame, list(context.partition_keys))
    last = list(partitions)[-1]
    for key, rows in partitions.items():
        extra = figures(key, rows) if figures else {}
        if key == last:
            extra["dagster/column_schema"] = written_schema(frame, declared)
        context.add_asset_metadata({"dagster/row_count": len(rows), **extra}, asset_key=asset_key, partition_key=key)
    return frame


def per_partition(context: dg.AssetCheckExecutionContext, results: Mapping[str, dg.AssetCheckResult]) -> Iterator:
    """Yield `results[key]` as the evaluation of partition `key`, for every partition of the run.

    An `AssetCheckResult` returned from a range run carries no partition, which leaves every
    partition of the range "planned", then "skipped" in the UI. A failed blocking (ERROR) partition
    fails the check's step as a failed `AssetCheckResult` would.
    """
    (spec,) = context.check_specs
    for key in context.partition_keys:
        result = results[key]
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
            blocking=spec.blocking,
            partition=key,
        )
    yield dg.Output(None)  # the check's own output, which the assets its blocking verdict guards wait on
