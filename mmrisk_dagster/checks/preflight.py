"""Preflight checks: blocking checks on the cleaned tables that stop a run before its embedding
and model steps when a table is unusable or the history cannot feed the training window."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from mmrisk_dagster.assets.clean import CLEANED, rejected_name
from mmrisk_dagster.checks.severity import ERROR, WARN
from mmrisk_dagster.partitions import daily_partitions, per_partition
from mmrisk_dagster.resources import (
    DataSourceResource,
    TrainingWindowResource,
    WarehouseResource,
)
from mmrisk_dagster.sources.files import table_files
from mmrisk_dagster.sources.preflight import no_history_problem, training_window_problem, unusable_table


def source_label(data_source: DataSourceResource, table: str) -> str:
    """The file a table comes from (`files`), else the source and table."""
    if data_source.kind == "files":
        file = table_files(data_source.path).get(table)
        return file.name if file else f"{table} (no file)"
    return f"{data_source.kind} source, table {table}"


def _mostly_usable_check(name: str, table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=name,
        name="mostly_usable",
        blocking=True,
        partitions_def=daily_partitions,
        # The step's own rejected rows, not the quarantine: a run of this table alone can judge it.
        additional_ins={"raw": dg.AssetIn(f"raw_{table}"), "rejected": dg.AssetIn(rejected_name(name))},
        description="Preflight: fails (and blocks every later step) when a required column is empty "
        "in nearly all rows or nearly all rows were quarantined, naming the file, column and fix.",
    )
    def mostly_usable(
        context: dg.AssetCheckExecutionContext,
        frame: pd.DataFrame,
        raw: pd.DataFrame,
        rejected: pd.DataFrame,
        data_source: DataSourceResource,
    ) -> Iterator:
        problem = unusable_table(source_label(data_source, table), table, raw, rejected)
        result = dg.AssetCheckResult(
            passed=problem is None,
            severity=ERROR,
            description=problem or f"{len(frame):,} of {len(raw):,} rows usable",
            metadata={"rows_in_run": len(raw), "rows_clean_in_run": len(frame)},
        )
        yield from per_partition(context, dict.fromkeys(context.partition_keys, result))  # a verdict on the run's table

    return mostly_usable


# The steps a history too short for the training window fails (after every embedding ran).
TRAINING_ASSETS = frozenset({dg.AssetKey("shared_space"), dg.AssetKey("multitask_model")})


def _run_trains(context: dg.AssetCheckExecutionContext) -> bool:
    # The run's own asset selection when it has one (a Dask worker rebuilds the whole job), else
    # the job's, for a job run whose selection is the job itself.
    selected = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    return not selected.isdisjoint(TRAINING_ASSETS)


def _has_rows(store, table: str) -> bool:
    return bool(store.existing_partitions(table)) and len(store.read(table, columns=["entity_id"])) > 0


@dg.asset_check(
    asset="prices",
    blocking=True,
    # Run after the other cleaned tables: with no prices, whether any table has rows decides.
    additional_deps=[name for name in CLEANED if name != "prices"],
    partitions_def=daily_partitions,
    description="Preflight: the stored price history (this run's days included) fills every split "
    "of the training window (train, validation, gate, test, with the embargo) with labels, and the "
    "source is a daily history with rows in the partition range. A run "
    "that fits shared_space or multitask_model stops here when it does not (ERROR); a run that "
    "trains nothing, such as one month of a longer backfill, is only warned.",
)
def training_window_fits(
    context: dg.AssetCheckExecutionContext,
    prices: pd.DataFrame,
    warehouse: WarehouseResource,
    training_window: TrainingWindowResource,
    data_source: DataSourceResource,
) -> Iterator:
    store = warehouse.store()
    history = store.read("prices")
    keys = context.partition_keys
    with_rows = ["prices"] if len(history) else [t for t in CLEANED if _has_rows(store, t)]
    problem = no_history_problem(data_source.kind, with_rows, keys[0], keys[-1]) or training_window_problem(
        history, training_window.split_spec(), training_window.horizon_days
    )
    dates = history["date"].nunique() if len(history) else 0
    trains = _run_trains(context)
    if problem and not trains:
        problem += "; this run trains nothing and goes on, a run that trains stops here"
    result = dg.AssetCheckResult(
        passed=problem is None,
        severity=ERROR if trains else WARN,
        description=problem or (f"{dates} price dates fill every split" if dates else "no prices: nothing to check"),
        metadata={"price_dates": int(dates)},
    )
    yield from per_partition(context, dict.fromkeys(context.partition_keys, result))  # a verdict on the whole history


preflight_checks = [*(_mostly_usable_check(name, table) for name, table in CLEANED.items()), training_window_fits]
