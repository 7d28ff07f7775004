"""What orchestration costs: backfill, daily increment, Dagster vs a plain call chain, scale, scoring.

Every measurement runs in a fresh child process (its environment chooses the universe and the
data home, as the code location reads them at import); the parent samples the RSS of the child's
whole process tree every 0.2 s. The five parts share that harness, hence one file past ~300
lines. Parts, one at a time or all:

    python -m benchmarks.orchestration --part backfill    # 50 entities x 2 years, whole graph as make demo
    python -m benchmarks.orchestration --part increment   # one day with 1 vs 2 years of history
    python -m benchmarks.orchestration --part overhead    # same days: Dagster vs plain chain
    python -m benchmarks.orchestration --part scale       # x1 vs x10 entities, raw -> panel, 2 months
    python -m benchmarks.orchestration --part throughput  # risk_scores over 2 years
    python -m benchmarks.orchestration --part all --out benchmarks/results/orchestration.json

Homes live under `--work` (default /tmp/mmrisk-bench); `increment`, `overhead` and
`throughput` reuse the two-year home that `backfill` leaves (and build it if missing).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import typing
from pathlib import Path

# Where the model is not what is measured: one seed, few epochs (and a 10-day label horizon).
FAST_MODEL = {
    "ops": {
        "shared_space": {"config": {"epochs": 2}},
        "multitask_model": {"config": {"seeds": [0], "epochs": 3}},
        "model_evaluation": {"config": {"baseline_seeds": [0], "single_modality_seeds": [], "gate_tolerance": 1.0}},
    }
}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# -- child side: one measurement in this process -----------------------------------------------
def _definitions(text_encoder: str, fast_model: bool = False):
    import dagster as dg

    from mmrisk_dagster.definitions import build_resources, defs
    from mmrisk_dagster.resources import ComputeResource, TrainingWindowResource
    from mmrisk_dagster.settings import Settings

    settings = Settings.from_env()
    resources = build_resources(settings)
    resources["compute"] = ComputeResource(cache_dir=str(settings.home / "cache"), text_encoder=text_encoder)
    if fast_model:  # short spans: a 10-day label horizon leaves room for three chronological splits
        resources["training_window"] = TrainingWindowResource(horizon_days=10)
    daily_path = defs.resolve_job_def("daily_scoring").asset_layer.executable_asset_keys
    jobs = [
        *defs.jobs,
        # The daily path without its asset checks: the same work the plain chain does.
        dg.define_asset_job("daily_path_unchecked", selection=dg.AssetSelection.assets(*daily_path).without_checks()),
        dg.define_asset_job("scores_only", selection=dg.AssetSelection.assets("risk_scores").without_checks()),
        # Everything whose size grows with the entities, up to the panel (no model to train).
        dg.define_asset_job(
            "data_path",
            selection=(dg.AssetSelection.groups("sources", "cleaning", "embeddings")
                       | dg.AssetSelection.assets("modality_panel")).without_checks(),
        ),
    ]
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=resources, jobs=jobs)


def _run_job(job_name: str, first: str, last: str, run_config: dict, text_encoder: str, fast_model: bool = False):
    import dagster as dg
    
    from mmrisk_dagster.instance import prepare_dagster_home
    from mmrisk_dagster.partitions import range_run_tags

    prepare_dagster_home()
    job = _definitions(text_encoder, fast_model).resolve_job_def(job_name)
    tags = range_run_tags(first, last)
    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=tags, run_config={**run_config, **QUIET})
        elapsed = time.perf_counter() - started
    assert result.success
    return elapsed, result


class _PlainContext:
    """What the asset bodies use of their context, without Dagster."""

    def __init__(self, partition_keys: list[str], assets_def):
        import logging

        self.partition_keys = partition_keys
        self.assets_def = assets_def
        self.selected_asset_keys = set(assets_def.keys)
        self.log = logging.getLogger("plain_chain")
        self.run_id = "plain-chain"

    @property
    def asset_key(self):
        (key,) = self.assets_def.keys
        return key

    def add_output_metadata(self, metadata: dict, **_) -> None:
        pass

    def add_asset_metadata(self, metadata: dict, **_) -> None:
        pass


def _plain_chain(first: str, last: str, text_encoder: str) -> float:
    """The daily path as plain calls: each asset's own function body (a thin call into the core),
    fed from and written to the same Parquet warehouse with the same lookback windows; no run,
    no event log, no IO manager, no step boundaries."""
    import dagster as dg
    import torch

    from mmrisk_dagster.partitions import daily_partitions

    defs = _definitions(text_encoder)
    resources = defs.resources
    store = resources["warehouse"].store()
    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def("daily_path_unchecked").asset_layer.executable_asset_keys
    order = [key for level in graph.toposorted_asset_keys_by_level for key in sorted(level) if key in selected]
    all_keys = daily_partitions.get_partition_keys()
    i0, i1 = all_keys.index(first), all_keys.index(last)
    torch.set_num_threads(resources["compute"].torch_threads)

    started = time.perf_counter()
    done = set()
    for key in order:
        assets_def = defs.resolve_assets_def(key)
        if assets_def.op.name in done:  # a multi-asset step writes all its tables at once
            continue
        done.add(assets_def.op.name)
        fn = assets_def.op.compute_fn.decorated_fn
        params = inspect.signature(fn).parameters
        args = {}
        for input_name, upstream in assets_def.keys_by_input_name.items():
            table = upstream.to_user_string()
            if not graph.get(upstream).is_partitioned:
                args[input_name] = store.read_json(table) if store.has_document(table) else store.read(table)
                continue
            mapping = assets_def.get_partition_mapping(upstream)
            back = -mapping.start_offset if isinstance(mapping, dg.TimeWindowPartitionMapping) else 0
            args[input_name] = store.read(table, all_keys[max(0, i0 - back): i1 + 1])
        if "context" in params:
            args["context"] = _PlainContext(all_keys[i0: i1 + 1], assets_def)
        if "config" in params:
            args["config"] = typing.get_type_hints(fn)["config"]()  # the asset's default run config
        for name in params:
            if name in resources:
                args[name] = resources[name]
        result = fn(**args)
        outputs = (
            {assets_def.keys_by_output_name[o.output_name]: o.value for o in result}
            if inspect.isgenerator(result)
            else {key: result}
        )
        for asset_key, frame in outputs.items():
            store.write(asset_key.to_user_string(), frame, all_keys[i0: i1 + 1])
    return time.perf_counter() - started


def child(kind: str, first: str, last: str, text_encoder: str, fast_model: bool, repeats: int) -> dict:
    from mmrisk_dagster.demo import DEMO_RUN_CONFIG

    model_config = FAST_MODEL if fast_model else DEMO_RUN_CONFIG  # the model as `make demo` trains it
    if kind == "backfill":
        elapsed, result = _run_job("full_refresh", first, last, model_config, text_encoder, fast_model)
        return {"seconds": elapsed}
    if kind == "data_path":
        return {"seconds": _run_job("data_path", first, last, {}, text_encoder)[0]}
    if kind == "daily":
        times = [_run_job("daily_scoring", last, last, {}, text_encoder)[0] for _ in range(repeats)]
        return {"seconds": times}
    if kind == "dagster":
        return {"seconds": _run_job("daily_path_unchecked", first, last, {}, text_encoder)[0]}
    if kind == "plain":
        return {"seconds": _plain_chain(first, last, text_encoder)}
    if kind == "scoring":
        elapsed, result = _run_job("scores_only", first, last, {}, text_encoder)
        # A range run reports one materialization per partition, each with that day's row count.
        events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "risk_scores"]
        rows = sum(e.materialization.metadata["dagster/row_count"].value for e in events)
        return {"seconds": elapsed, "entity_days": rows}
    raise ValueError(kind)


# -- parent side: run a child, sample its process tree ------------------------------------------
def measure(kind: str, home: Path, entities: int, start: str, end: str, *, first: str | None = None,
            last: str | None = None, text_encoder: str = "minilm", fast_model: bool = False, repeats: int = 3) -> dict:
    import psutil

    env = {**os.environ, "MMRISK_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "MMRISK_SYNTHETIC_ENTITIES": str(entities), "MMRISK_START_DATE": start, "MMRISK_END_DATE": end,
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DAGSTER_EVENT_BATCH_SIZE": "1000",
           "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}
    command = [sys.executable, "-m", "benchmarks.orchestration", "--child", kind, "--first", first or start,
               "--last", last or end, "--text-encoder", text_encoder, "--repeats", str(repeats)]
    command += ["--fast-model"] if fast_model else []
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak, tree = 0, psutil.Process(process.pid)

    def sample():
        nonlocal peak
        while process.poll() is None:
            try:
                rss = sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)])
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{kind} in {home} failed (exit {process.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(process_wall_s=time.perf_counter() - started, peak_rss_gb=peak / 1e9, entities=entities,
                  span=[start, end], partitions=[first or start, last or end], text_encoder=text_encoder,
                  fast_model=fast_model, load_average_1min=[load_before, os.getloadavg()[0]])
    print(f"  {kind:<9} {entities:>4} entities {result['partitions'][0]}..{result['partitions'][1]}: "
          f"{json.dumps({k: result[k] for k in ('seconds', 'peak_rss_gb')}, default=str)}", flush=True)
    return result


TWO_YEARS = ("2024-01-01", "2025-12-31")
ONE_YEAR = ("2024-01-01", "2024-12-31")
TWO_MONTHS = ("2024-01-01", "2024-02-29")


def two_year_home(work: Path, report: dict, entities: int) -> Path:
    home = work / f"home-{entities}x2y"
    if not (home / "warehouse" / "risk_scores").exists():  # a backfill run in this call leaves it
        report["backfill"] = measure("backfill", home, entities, *TWO_YEARS)
    return home


def part_backfill(work: Path, report: dict, entities: int) -> None:
    report["backfill"] = measure("backfill", work / f"home-{entities}x2y", entities, *TWO_YEARS)


def part_increment(work: Path, report: dict, entities: int) -> None:
    two = two_year_home(work, report, entities)
    one = work / f"home-{entities}x1y"
    if not (one / "warehouse" / "risk_scores").exists():
        report["increment_history_1y"] = measure("backfill", one, entities, *ONE_YEAR, fast_model=True)
    days = {}
    for label, home, span in (("1y", one, ONE_YEAR), ("2y", two, TWO_YEARS)):
        days[label] = measure("daily", home, entities, *span, first=span[1], last=span[1])
    report["increment"] = {
        **days,
        "median_seconds": {k: statistics.median(v["seconds"]) for k, v in days.items()},
        "ratio_2y_over_1y": statistics.median(days["2y"]["seconds"]) / statistics.median(days["1y"]["seconds"]),
    }


def part_overhead(work: Path, report: dict, entities: int, days: int = 65) -> None:
    home = two_year_home(work, report, entities)
    import pandas as pd

    keys = pd.bdate_range(TWO_YEARS[0], TWO_YEARS[1]).strftime("%Y-%m-%d").tolist()
    first, last = keys[-days], keys[-1]
    runs = {"dagster": [], "plain": []}
    for _ in range(3):  # alternate, so drifting load on the shared machine hits both alike
        for kind in runs:
            runs[kind].append(measure(kind, home, entities, *TWO_YEARS, first=first, last=last))
    best = {kind: min(r["seconds"] for r in results) for kind, results in runs.items()}
    report["overhead"] = {"runs": runs, "best_seconds": best, "business_days": days,
                          "ratio_dagster_over_plain": best["dagster"] / best["plain"]}


def part_scale(work: Path, report: dict, entities: int) -> None:
    """x1 vs x10 entities over the same two months, raw -> panel (the part whose work grows with
    the entities; the whole graph with training at x10 did not fit our time on the shared machine)."""
    results = {}
    for factor in (1, 10):
        n = entities * factor
        results[f"x{factor}"] = measure("data_path", work / f"home-{n}x2m", n, *TWO_MONTHS, text_encoder="hashing")
    report["scale"] = {
        **results,
        "time_ratio": results["x10"]["seconds"] / results["x1"]["seconds"],
        "rss_ratio": results["x10"]["peak_rss_gb"] / results["x1"]["peak_rss_gb"],
    }


def part_throughput(work: Path, report: dict, entities: int) -> None:
    home = two_year_home(work, report, entities)
    result = measure("scoring", home, entities, *TWO_YEARS)
    result["entity_days_per_second"] = result["entity_days"] / result["seconds"]
    report["throughput"] = result


PARTS = {"backfill": part_backfill, "increment": part_increment, "overhead": part_overhead, "scale": part_scale,
         "throughput": part_throughput}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--entities", type=int, default=50)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmrisk-bench"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/orchestration.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    parser.add_argument("--text-encoder", default="minilm", help=argparse.SUPPRESS)
    parser.add_argument("--fast-model", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.first, args.last, args.text_encoder, args.fast_model, args.repeats)))
        return

    # Parts run one at a time add to the same JSON file.
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["machine"] = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    for name in PARTS if args.part == "all" else [args.part]:
        print(f"{name}:", flush=True)
        PARTS[name](args.work, report, args.entities)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
