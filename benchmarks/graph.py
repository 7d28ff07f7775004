"""The whole Dagster graph, run for a benchmark: every asset of `full_refresh` materialized in
process into its own data home (what `make demo` runs), then read back from the warehouse.

The definitions read their settings from the environment when first imported, so one process
runs one graph: a benchmark that needs several homes runs each in its own process."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmarks import BENCHMARK_SALT


@dataclass
class GraphRun:
    run_id: str
    success: bool
    wall_seconds: float
    warehouse: object  # mmrisk_dagster.resources.warehouse.ParquetWarehouse of the run's home
    evaluation: dict  # model_evaluation, as the UI shows it
    model_card: dict  # multitask_model


def home_environment(home: str | Path) -> dict[str, str]:
    """The data home, Dagster's home inside it and the benchmarks' pseudonymization salt."""
    home = Path(home).resolve()
    return {"MMRISK_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "MMRISK_PSEUDONYM_SALT": BENCHMARK_SALT}


def run_graph(env: dict[str, str], ops_config: dict, progress: Callable[[str], None]) -> GraphRun:
    """Materialize every asset over the settings' whole partition range with the demo's run
    config, `ops_config` merged over it per op; stops naming the failed checks and steps when
    `model_evaluation` was not reached."""
    os.environ.update(env)  # read by the definitions, imported below for this reason
    import dagster as dg

    from mmrisk_dagster.demo import DEMO_RUN_CONFIG, failure_report, materialize_everything
    from mmrisk_dagster.instance import prepare_dagster_home
    from mmrisk_dagster.settings import Settings

    settings = Settings.from_env()
    prepare_dagster_home(settings)
    from mmrisk_dagster.definitions import defs
    from mmrisk_dagster.partitions import daily_partitions
    from mmrisk_dagster.resources.warehouse import ParquetWarehouse

    keys = daily_partitions.get_partition_keys()
    ops = dict(DEMO_RUN_CONFIG["ops"])
    for op, config in ops_config.items():
        ops[op] = {"config": {**ops.get(op, {}).get("config", {}), **config}}
    progress(f"{settings.source}: materializing every asset for {keys[0]}..{keys[-1]} into {settings.home}")
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = materialize_everything(defs, instance, keys[0], keys[-1], {"ops": ops})
    store = ParquetWarehouse(settings.home / "warehouse")
    # Reached in this run: a home may hold an evaluation from an earlier one.
    if not result.asset_materializations_for_node("model_evaluation"):
        raise SystemExit(failure_report(result, settings.home / "warehouse"))
    return GraphRun(
        run_id=result.run_id,
        success=result.success,
        wall_seconds=time.perf_counter() - started,
        warehouse=store,
        evaluation=store.read_json("model_evaluation"),
        model_card=store.read_json("multitask_model"),
    )
