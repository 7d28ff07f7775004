"""What the event log costs a range run, on Dagster's stock SQLite storage and on the batched one.

A single-run backfill over N daily partitions reports N materializations per asset. The graph
here does no work (three partitioned assets and a partitioned check, each step returning at
once), so the time is the run's bookkeeping, most of it writing events. Each storage setting is
measured in a fresh instance, `--repeats` times, in this process:

- `stock`: Dagster's default SQLite event log, events written one at a time;
- `stock_batch_env`: the same with `DAGSTER_EVENT_BATCH_SIZE=1000` (Dagster then hands the storage
  batches, which the stock SQLite storage still writes one by one);
- `batched`: `dagster_batched_sqlite.BatchedSqliteEventLogStorage` with the same variable.

    python -m benchmarks.event_log --partitions 523 --out benchmarks/results/event_log.json
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from mmrisk_dagster.instance import EVENT_BATCH_SIZE, TELEMETRY_OFF, batched_event_log_yaml
from mmrisk_dagster.partitions import business_day_partitions, per_partition, range_run_tags

STORAGES = ("stock", "stock_batch_env", "batched")


def range_graph(first: str, last: str) -> tuple[dg.PartitionsDefinition, list, list]:
    """Three chained business-day assets, single-run backfills, and a check evaluated per partition."""
    import pandas as pd

    partitions = business_day_partitions(pd.Timestamp(first).date(), pd.Timestamp(last).date())
    # A fixed code version: otherwise the run id is the code version and data versions differ per run.
    common = {"partitions_def": partitions, "backfill_policy": dg.BackfillPolicy.single_run(), "code_version": "1"}

    @dg.asset(**common)
    def upstream(context: dg.AssetExecutionContext) -> None:
        context.add_output_metadata({"dagster/row_count": len(context.partition_keys)})

    @dg.asset(deps=[upstream], **common)
    def middle(context: dg.AssetExecutionContext) -> None:
        context.add_output_metadata({"days": len(context.partition_keys)})

    @dg.asset(deps=[middle], **common)
    def downstream() -> None:
        return None

    @dg.asset_check(asset=downstream, blocking=True, partitions_def=partitions)
    def downstream_ok(context: dg.AssetCheckExecutionContext):
        # The project's checks report one evaluation per partition of the range (checks.per_partition).
        results = {key: dg.AssetCheckResult(passed=True, metadata={"day": key}) for key in context.partition_keys}
        yield from per_partition(context, results)

    return partitions, [upstream, middle, downstream], [downstream_ok]


def instance_in(home: Path, storage: str) -> dg.DagsterInstance:
    """A persistent instance under `home`: stock SQLite storage or the project's batched one."""
    home.mkdir(parents=True, exist_ok=True)
    if storage == "batched":
        (home / "dagster.yaml").write_text(batched_event_log_yaml(home))
    else:
        (home / "dagster.yaml").write_text(TELEMETRY_OFF)
    return dg.DagsterInstance.from_config(str(home))


def run_range(instance: dg.DagsterInstance, first: str, last: str, batch_size: str) -> float:
    """Materialize the graph over [first, last] in one run; seconds it took."""
    _, assets, checks = range_graph(first, last)
    # The project's other supported setting: one "planned" event per asset for a range run.
    os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
    previous = os.environ.get("DAGSTER_EVENT_BATCH_SIZE")
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = batch_size
    try:
        started = time.perf_counter()
        result = dg.materialize([*assets, *checks], instance=instance, tags=range_run_tags(first, last))
        elapsed = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_EVENT_BATCH_SIZE")
        else:
            os.environ["DAGSTER_EVENT_BATCH_SIZE"] = previous
    if not result.success:
        raise RuntimeError("the range run failed")
    return elapsed


def batch_size_for(storage: str) -> str:
    return "0" if storage == "stock" else EVENT_BATCH_SIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=523)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/event_log.json"))
    args = parser.parse_args()
    import pandas as pd

    days = pd.bdate_range("2024-01-01", periods=args.partitions)
    first, last = days[0].strftime("%Y-%m-%d"), days[-1].strftime("%Y-%m-%d")
    seconds: dict[str, list[float]] = {storage: [] for storage in STORAGES}
    load_before = os.getloadavg()[0]
    for repeat in range(args.repeats):
        for storage in STORAGES:  # interleaved: drifting load on a shared machine hits each alike
            with tempfile.TemporaryDirectory() as home, instance_in(Path(home), storage) as instance:
                seconds[storage].append(run_range(instance, first, last, batch_size_for(storage)))
            print(f"  repeat {repeat} {storage:<16} {seconds[storage][-1]:.1f}s", flush=True)
    report = {
        "what": f"one single-run backfill of 3 no-op assets + 1 check over {args.partitions} business days",
        "partitions": args.partitions,
        "dagster": dg.__version__,
        "seconds": seconds,
        "mean_seconds": {s: statistics.mean(v) for s, v in seconds.items()},
        "std_seconds": {s: statistics.stdev(v) if len(v) > 1 else 0.0 for s, v in seconds.items()},
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min": [load_before, os.getloadavg()[0]]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["mean_seconds"]), f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
