"""Checks on the raw, cleaned and quarantine tables: GX suites, rows conserved, keys unique."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from mmrisk_dagster.assets.clean import CLEANED, rejected_name
from mmrisk_dagster.assets.raw import RAW_TABLES
from mmrisk_dagster.checks import gx
from mmrisk_dagster.checks.severity import ERROR, WARN
from mmrisk_dagster.partitions import daily_partitions, per_partition
from mmrisk_dagster.resources import WarehouseResource
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN

GX_ASSETS = (*(f"raw_{t}" for t in RAW_TABLES), *CLEANED, "quarantine")


def expectation_result(outcome: gx.SuiteOutcome) -> dg.AssetCheckResult:
    failed, summary = outcome.failures, gx.summary(outcome)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=ERROR if outcome.critical_failures else WARN,
        description=(
            f"{len(outcome.results)} expectations held on {outcome.rows} rows"
            if not failed
            else f"{len(failed)} of {len(outcome.results)} expectations failed "
            f"({len(outcome.critical_failures)} critical): " + ", ".join(r.name for r in failed[:5])
        ),
        metadata={
            "suite": dg.MetadataValue.path(outcome.path),
            **{k: v for k, v in summary.items() if k != "failures"},
            "failures": dg.MetadataValue.json(summary["failures"]),
            "results": dg.MetadataValue.md(gx.markdown_table(outcome)),
        },
    )


def _expectations_check(asset: str) -> dg.AssetChecksDefinition:
    suite = gx.load_suite(asset)

    @dg.asset_check(
        asset=asset,
        name="expectations",
        blocking=True,
        partitions_def=daily_partitions,
        description=f"Great Expectations suite mmrisk_dagster/checks/expectations/{asset}.json. {suite.get('meta', {}).get('description', '')} "
        "ERROR (blocks downstream) when a critical expectation fails, WARN when only warnings do.",
    )
    def expectations(context: dg.AssetCheckExecutionContext, frame: pd.DataFrame) -> Iterator:
        # One validation of the run's whole range (a suite run per day would cost minutes on a
        # two-year backfill); every partition of the range gets its verdict.
        days = pd.DatetimeIndex(pd.to_datetime(context.partition_keys))
        result = expectation_result(gx.validate(frame, asset, gx.range_parameters(days.min(), days.max())))
        result = result.with_metadata(
            {**result.metadata, "validated_range": f"{days.min().date()}..{days.max().date()}"}
        )
        yield from per_partition(context, dict.fromkeys(context.partition_keys, result))

    return expectations


def rows_conservation(
    table: str, frame: pd.DataFrame, raw: pd.DataFrame, rejected: pd.DataFrame, partition_keys: list[str]
) -> dict[str, dg.AssetCheckResult]:
    """Per partition key: raw rows = clean rows + rows of `table` rejected that day."""
    counts = (
        pd.DataFrame(
            {
                "raw": raw.groupby(PARTITION_COLUMN).size(),
                "clean": frame.groupby(PARTITION_COLUMN).size(),
                "quarantined": rejected[rejected["source"] == table].groupby(PARTITION_COLUMN).size(),
            }
        )
        .fillna(0)
        .astype(int)
    )
    counts.index = pd.to_datetime(counts.index).strftime("%Y-%m-%d")
    counts = counts.reindex(partition_keys, fill_value=0)
    results = {}
    for key, (n_raw, n_clean, n_quarantined) in counts.iterrows():
        balanced = bool(n_raw == n_clean + n_quarantined)
        results[key] = dg.AssetCheckResult(
            passed=balanced,
            severity=ERROR,
            description=f"{n_raw} raw rows = {n_clean} clean + {n_quarantined} quarantined"
            if balanced
            else f"{n_raw} raw rows but {n_clean} clean + {n_quarantined} quarantined: rows were lost or counted twice",
            metadata={"rows_in": int(n_raw), "rows_clean": int(n_clean), "rows_quarantined": int(n_quarantined)},
        )
    return results


def _rows_conserved_check(name: str, table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=name,
        name="rows_conserved",
        blocking=True,
        partitions_def=daily_partitions,
        additional_ins={"raw": dg.AssetIn(f"raw_{table}"), "rejected": dg.AssetIn(rejected_name(name))},
        description="Every raw row is either clean or quarantined, partition by partition: nothing is lost.",
    )
    def rows_conserved(
        context: dg.AssetCheckExecutionContext, frame: pd.DataFrame, raw: pd.DataFrame, rejected: pd.DataFrame
    ) -> Iterator:
        yield from per_partition(context, rows_conservation(table, frame, raw, rejected, context.partition_keys))

    return rows_conserved


# Tables whose natural key does not include the partition: an id seen on two days is one record
# delivered twice. Fundamentals are left out on purpose: a filing for the same period arriving on
# a later day is a restatement, which point-in-time features must see as a new version.
UNIQUE_ACROSS_PARTITIONS = {"news": ("doc_id",), "social": ("post_id",), "risk_events": CONTRACTS["events"].key}
DUPLICATES_SHOWN = 10


def _keys_unique_check(name: str, key: tuple[str, ...]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=name,
        name="keys_unique_across_partitions",
        blocking=True,
        partitions_def=daily_partitions,
        description=f"ERROR when a {'/'.join(key)} of these partitions is also stored under another day "
        "(cleaning judges duplicates within a partition; this looks across all of them).",
    )
    def keys_unique_across_partitions(
        context: dg.AssetCheckExecutionContext, frame: pd.DataFrame, warehouse: WarehouseResource
    ) -> Iterator:
        columns = [*key, PARTITION_COLUMN]
        store = warehouse.store()
        in_run = set(context.partition_keys)
        others = [k for k in store.existing_partitions(name) if k not in in_run]
        stored = store.read(name, others, columns=columns) if others else frame[columns].iloc[:0]
        both = pd.concat([stored, frame[columns]], ignore_index=True)
        days = both.groupby(list(key))[PARTITION_COLUMN].agg(["nunique", "min", "max"])
        repeated = days[days["nunique"] > 1]
        result = dg.AssetCheckResult(
            passed=repeated.empty,
            severity=ERROR,
            description=None
            if repeated.empty
            else f"{len(repeated)} key(s) stored under more than one day; "
            "remove the repeated deliveries at the source, then re-run the later partitions",
            metadata={
                "keys_checked": len(days),
                "repeated_keys": len(repeated),
                "examples": dg.MetadataValue.json(
                    [
                        {
                            "key": "|".join(map(str, k if isinstance(k, tuple) else (k,))),
                            "first_day": str(r["min"].date()),
                            "last_day": str(r["max"].date()),
                        }
                        for k, r in repeated.head(DUPLICATES_SHOWN).iterrows()
                    ]
                ),
            },
        )
        # One verdict on the run's keys against every stored day, reported on each partition.
        yield from per_partition(context, dict.fromkeys(context.partition_keys, result))

    return keys_unique_across_partitions


# Norm ranges follow from how each embedding is built (ml/features.py): price features are
# clipped to +-25, fundamentals are centered ranks in (-0.5, 0.5), text vectors are a unit
# direction plus log1p(count), charts are judged by their share of inked pixels.


table_checks = [
    *[_expectations_check(asset) for asset in GX_ASSETS],
    *[_rows_conserved_check(name, table) for name, table in CLEANED.items()],
    *[_keys_unique_check(name, key) for name, key in UNIQUE_ACROSS_PARTITIONS.items()],
]
