"""`make demo`: materialize the whole graph on the configured universe, then print a summary.

The run goes through the persistent Dagster instance under `$DAGSTER_HOME`, so the UI
(`make ui`) shows it afterwards with its checks, lineage and metadata.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from mmrisk_dagster.instance import fail_dead_runs, prepare_dagster_home, run_process_tag
from mmrisk_dagster.partitions import range_run_tags
from mmrisk_dagster.settings import Settings

# The demo must fit in five minutes on two cores including its install: fewer epochs for the
# shared space and one seed for each baseline and single-modality model (the defaults, three
# seeds, are for `make backfill` and the benchmarks). Two model seeds still make an ensemble.
DEMO_RUN_CONFIG = {
    "ops": {
        "shared_space": {"config": {"epochs": 3}},
        "multitask_model": {"config": {"seeds": [0, 1]}},
        "model_evaluation": {"config": {"baseline_seeds": [0], "single_modality_seeds": [0]}},
    }
}


def materialize_everything(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str, run_config: dict = DEMO_RUN_CONFIG
) -> dg.ExecuteInProcessResult:
    """One run of the `full_refresh` job over the partition range [first, last]."""
    job = defs.resolve_job_def("full_refresh")
    return job.execute_in_process(
        instance=instance,
        tags={**range_run_tags(first, last), **run_process_tag()},
        run_config={**run_config, "loggers": {"console": {"config": {"log_level": "INFO"}}}},
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
    lines += gate_lines(evaluation["gate"])

    lines += top_entities(store, task)
    return "\n".join(lines)


def top_entities(store, task: str | None) -> list[str]:
    """The ten riskiest entities on the latest scored date: by default probability where the data
    holds default events, else (market data alone: the default head never saw a default) by
    predicted volatility, beside the movement probability."""
    by_default = task == "default"
    order = "s.default_probability DESC, s.default_score_raw DESC" if by_default else "s.predicted_volatility DESC"
    columns = (
        "round(s.default_probability, 4) AS default_probability, s.top_default_driver"
        if by_default
        else "round(s.movement_probability, 4) AS movement_probability, round(s.var_99, 4) AS var_99"
    )
    top = store.query(
        f"""
        SELECT s.entity_id, s.date::DATE AS date, round(s.predicted_volatility, 4) AS predicted_volatility,
               {columns}, s.top_modality
        FROM risk_scores s
        WHERE s.date = (SELECT max(date) FROM risk_scores)
        ORDER BY {order}
        LIMIT 10
        """
    )
    heading = (
        "Top-10 riskiest entities on the latest date by default probability (top_default_driver = the "
        "modality whose linear term raised the default log-odds most; top_modality = largest attention weight):"
        if by_default
        else "Top-10 entities on the latest date by predicted volatility (no default events in the data, so "
        "no default ranking; var_99 = one-day 99% Value-at-Risk; top_modality = largest attention weight):"
    )
    return ["", heading, *("  " + row for row in top.to_string(index=False).splitlines())]


def gate_lines(gate: dict) -> list[str]:
    """The model gate's verdict, margin and the gate-split table behind it."""
    if gate.get("task") is None:
        return [f"  model gate: FAILED: {gate.get('reason', 'no primary task')}"]
    verdict = "PASSED" if gate["passed"] else "FAILED"
    lines = [
        f"  model gate: {verdict} on the gate split ({gate['task']} AUC): model {gate['model_auc']:.4f} against the "
        f"best baseline {gate['best_baseline']} {gate['best_baseline_auc']:.4f}, margin {gate['margin']:+.4f} "
        f"(it may trail by at most {gate['tolerance']}); margin ± {gate['margin_std_error']:.4f} (bootstrap over "
        f"entities and dates), 95% interval [{gate['margin_ci_low']:+.4f}, {gate['margin_ci_high']:+.4f}], "
        f"{gate['positives']} positive of {gate['rows']} entity-days",
        f"    | gate split, {gate['task']} AUC | value |",
        "    |---|---|",
        f"    | fused model | {gate['model_auc']:.4f} |",
    ]
    lines += [f"    | {name} | {auc:.4f} |" for name, auc in gate.get("baseline_aucs", {}).items()]
    return lines


MESSAGE_LIMIT = 600  # characters of a step's error in the summary; the UI holds all of it


def _scalar_metadata(metadata: Mapping[str, object]) -> str:
    """A check's plain measurements (numbers, short texts), for a check that gave no description."""
    values = {name: getattr(value, "value", value) for name, value in metadata.items()}
    return ", ".join(
        f"{name}={value}"
        for name, value in values.items()
        if isinstance(value, int | float) or (isinstance(value, str) and len(value) < 80)
    )


def _root_error(error):
    """The innermost error of a step failure: the step's own, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    return error


def _root_message(error) -> str:
    return _root_error(error).message.strip()  # Dagster's message already starts with the error's class


def failure_report(result: dg.ExecuteInProcessResult, warehouse_root: Path) -> str:
    """Why a run failed: each failed blocking check's own description, each failed step's own
    message and, when the model gate blocked, its margin and table."""
    from mmrisk_dagster.resources.warehouse import ParquetWarehouse

    lines = [f"The run {result.run_id} failed:"]
    failed: dict[dg.AssetCheckKey, list[dg.AssetCheckEvaluation]] = {}
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failed.setdefault(evaluation.asset_check_key, []).append(evaluation)
    # One line per check, however many partitions it failed on: the first failure says why.
    for key, evaluations in failed.items():
        first = evaluations[0]
        why = first.description or _scalar_metadata(first.metadata)
        partitions = sorted(e.partition for e in evaluations if e.partition)
        where = f" [{len(partitions)} partitions, {partitions[0]} .. {partitions[-1]}]" if len(partitions) > 1 else ""
        lines.append(f"  check {key.asset_key.to_user_string()}:{key.name} failed: {why}{where}".rstrip())
        if key.name == "model_gate":
            lines += gate_lines(ParquetWarehouse(warehouse_root).read_json("model_evaluation")["gate"])
    for event in result.all_events:
        # A step that only reports failed blocking checks is said above, check by check.
        if (
            event.is_step_failure
            and _root_error(event.step_failure_data.error).cls_name != "DagsterAssetCheckFailedError"
        ):
            message = _root_message(event.step_failure_data.error)
            cut = f" ... ({len(message):,} characters in all)" if len(message) > MESSAGE_LIMIT else ""
            lines.append(f"  step {event.step_key} failed: {message[:MESSAGE_LIMIT]}{cut}")
        elif event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            # A resource that cannot start (a missing secret, a bad setting) fails before any step.
            error = getattr(event.event_specific_data, "error", None)
            lines.append(f"  a resource failed to start: {_root_message(error) if error else event.message}")
    lines.append("The UI (make ui) holds the run's full logs.")
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
        fail_dead_runs(instance)  # an earlier demo killed mid-run must not look like it is still running
        result = materialize_everything(defs, instance, first, last)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(failure_report(result, settings.home / "warehouse"))
    print(summary(settings))
    print(f"\nMaterialized in {elapsed:.0f}s (run {result.run_id}).")
    print("Open the UI with `make ui`, then http://127.0.0.1:3000 (MLflow: `make mlflow-ui`, http://127.0.0.1:5000).")


if __name__ == "__main__":
    main()
