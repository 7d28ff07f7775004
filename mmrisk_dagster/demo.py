"""`make demo`: materialize the whole graph on the configured universe, then print a summary.

The run goes through the persistent Dagster instance under `$DAGSTER_HOME`, so the UI
(`make ui`) shows it afterwards with its checks, lineage and metadata.
"""

from __future__ import annotations

import argparse
import time

import dagster as dg

from mmrisk_dagster.instance import prepare_dagster_home
from mmrisk_dagster.partitions import range_run_tags
from mmrisk_dagster.settings import Settings


def materialize_everything(defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One run of the `full_refresh` job over the partition range [first, last]."""
    job = defs.resolve_job_def("full_refresh")
    return job.execute_in_process(
        instance=instance,
        tags=range_run_tags(first, last),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )


def summary(settings: Settings) -> str:
    from mmrisk_dagster.resources.warehouse import ParquetWarehouse

    store = ParquetWarehouse(settings.home / "warehouse")
    tables = store.refresh_views()
    counts = [(t, int(store.query(f'SELECT count(*) AS n FROM "{t}"')["n"].iloc[0])) for t in tables]
    lines = ["", "Rows per table (DuckDB views over the Parquet warehouse):"]
    lines += [f"  {t:<28} {n:>10,}" for t, n in counts]

    evaluation = store.read_json("model_evaluation")
    task = evaluation["primary_task"]
    lines += ["", f"Model {evaluation['model_version']} on the chronological test split ({task}):"]
    lines += ["  " + row for row in evaluation["markdown"].splitlines()]
    ensemble = evaluation["model"]["ensemble"]
    if "log_forward_vol" in ensemble and "r2" in ensemble["log_forward_vol"]:
        vol = ensemble["log_forward_vol"]
        lines.append(f"  forward volatility: RMSE {vol['rmse']:.3f}, R^2 {vol['r2']:.3f} (log scale)")
    gate = evaluation["gate"]
    lines.append(f"  model gate: {'PASSED' if gate['passed'] else 'FAILED'} ({gate})")

    top = store.query(
        """
        SELECT s.entity_id, s.date::DATE AS date, round(s.default_probability, 4) AS default_probability,
               round(s.predicted_volatility, 4) AS predicted_volatility, s.top_default_driver, s.top_modality
        FROM risk_scores s
        WHERE s.date = (SELECT max(date) FROM risk_scores)
        ORDER BY s.default_probability DESC, s.default_score_raw DESC
        LIMIT 10
        """
    )
    lines += [
        "",
        "Top-10 riskiest entities on the latest date (top_default_driver = the modality whose linear term "
        "raised the default log-odds most; top_modality = largest attention weight):",
    ]
    lines += ["  " + row for row in top.to_string(index=False).splitlines()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", help="first partition (default: the configured start)")
    parser.add_argument("--end", help="last partition (default: the configured end)")
    args = parser.parse_args()

    settings = Settings.from_env()
    prepare_dagster_home(settings)
    from mmrisk_dagster.definitions import defs
    from mmrisk_dagster.partitions import daily_partitions

    keys = daily_partitions.get_partition_keys()
    first, last = args.start or keys[0], args.end or keys[-1]
    print(f"Materializing every asset for partitions {first}..{last} into {settings.home} ...", flush=True)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = materialize_everything(defs, instance, first, last)
    elapsed = time.perf_counter() - started
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise SystemExit(f"The run failed at {failed}; open the UI (make ui) for the logs.")
    print(summary(settings))
    print(f"\nMaterialized in {elapsed:.0f}s (run {result.run_id}).")
    print("Open the UI with `make ui`, then http://127.0.0.1:3000 (MLflow: `make mlflow-ui`, http://127.0.0.1:5000).")


if __name__ == "__main__":
    main()
