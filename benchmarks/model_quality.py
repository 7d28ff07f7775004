"""Model quality on synthetic universes, through the Dagster graph: the fused model against its baselines.

Each universe is the demo's graph (`make demo`: every asset of `full_refresh`, its checks and
the model gate) on a synthetic universe of its own seed and size, materialized in a process of
its own into a data home of its own; the benchmark reads `model_evaluation` back, as a user
would in the UI. It reports the chronological test split's credit-default AUC for the fused
model, the TF-IDF + logistic regression, HistGradientBoosting and linear SVM baselines, models
trained on a single modality, and the fused model with each modality removed at inference, plus
a reference no team has: the AUC of the generator's true latent hazard on the same rows. Figures
are mean ± std over model seeds, per universe and pooled over universes.

    python -m benchmarks.model_quality --entities 100 --universe-seeds 11 12 13 14 15 \
        --model-seeds 0 1 --single-modality-seeds 0

`--combine a.json b.json ...` pools finished result files instead of running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks.graph import home_environment, run_graph  # noqa: E402
from mmrisk_dagster.ml.fusion import FusionConfig  # noqa: E402
from mmrisk_dagster.ml.metrics import binary_metrics, mean_std  # noqa: E402
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig  # noqa: E402
from mmrisk_dagster.settings import Settings  # noqa: E402
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe  # noqa: E402


def universe_environment(seed: int, args) -> dict[str, str]:
    return {
        **home_environment(Path(args.homes) / f"universe-{seed}"),
        "MMRISK_SOURCE": "synthetic",
        "MMRISK_SEED": str(seed),
        "MMRISK_SYNTHETIC_ENTITIES": str(args.entities),
        "MMRISK_SYNTHETIC_DEFAULT_RATE": str(args.default_rate),
        "MMRISK_START_DATE": args.start,
        "MMRISK_END_DATE": args.end,
        "MMRISK_TEXT_ENCODER": args.text_encoder,
    }


def universe_config(seed: int, options: dict) -> SyntheticConfig:
    """The universe of `seed` under this script's options (`vars(args)`, or a result file's config)."""
    return SyntheticConfig(
        n_entities=options["entities"],
        seed=seed,
        start=date.fromisoformat(options["start"]),
        end=date.fromisoformat(options["end"]),
        annual_default_rate=options["default_rate"],
    )


def split_rows(warehouse, split: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """Each split's panel rows with their default label, from the assets the model read: every
    panel date in a split's [first, last] is in it (the embargo lies between splits)."""
    keys = warehouse.read("modality_panel", columns=["entity_id", "date"])
    labels = warehouse.read("training_labels", columns=["entity_id", "date", "default"])
    rows = keys.merge(labels, on=["entity_id", "date"], how="left")
    dates = pd.to_datetime(rows["date"])
    return {
        name: rows[(dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last))].reset_index(drop=True)
        for name, (first, last) in split.items()
    }


def latent_hazard_auc(config: SyntheticConfig, test: pd.DataFrame) -> float:
    """Test AUC of the true daily hazard at t, which the generator knows and no model sees: how
    much of the default signal a point-in-time model could reach if it recovered the latent state."""
    latent = cached_universe(config).latent[["entity_id", "date", "hazard"]]
    rows = test.assign(date=pd.to_datetime(test["date"])).merge(
        latent.assign(date=pd.to_datetime(latent["date"])), on=["entity_id", "date"], how="left"
    )
    known = rows["default"].notna() & rows["hazard"].notna()
    return binary_metrics(rows.loc[known, "default"].to_numpy(), rows.loc[known, "hazard"].to_numpy())["auc"]


def run_universe(seed: int, args) -> dict:
    """The graph on one universe, in this process (the definitions read the environment once)."""
    run = run_graph(
        universe_environment(seed, args),
        {
            "shared_space": {"epochs": args.space_epochs},
            "multitask_model": {"seeds": args.model_seeds, "epochs": args.epochs},
            "model_evaluation": {"baseline_seeds": args.model_seeds, "single_modality_seeds": args.single_modality_seeds},
        },
        lambda message: print(message, flush=True),
    )
    report = run.evaluation
    config = universe_config(seed, vars(args))
    rows = split_rows(run.warehouse, run.model_card["split"])
    positive = {name: frame[frame["default"] == 1] for name, frame in rows.items()}
    if positive["test"].empty:
        first, last = run.model_card["split"]["test"]
        raise SystemExit(
            f"universe seed {seed}: no default event in its test split ({first}..{last}), so no AUC there can rank "
            "models. Use more --entities, a higher --default-rate or a longer --start..--end."
        )
    report["latent_hazard_auc"] = latent_hazard_auc(config, rows["test"])
    report["events"] = {name: len(frame) for name, frame in positive.items()}
    report["default_events"] = {name: int(frame["entity_id"].nunique()) for name, frame in positive.items()}
    report["retrieval"] = {k: run.warehouse.read_json("shared_space")["retrieval"][k] for k in ("mean_recall", "mean_random")}
    report["graph_run"] = {"run_id": run.run_id, "success": run.success, "gate": report["gate"]["passed"]}
    report["seconds"] = run.wall_seconds
    return report


def summarize(reports: list[dict]) -> dict:
    def member_aucs(report):
        return report["model"]["members"]["default"]["auc"]

    rows = {"fused model": [member_aucs(r)["mean"] for r in reports]}
    for name in reports[0]["baselines"]:
        rows[name] = [r["baselines"][name]["test"]["mean"] for r in reports]
    for modality in reports[0]["single_modality_models"]:
        rows[f"only {modality} (trained)"] = [r["single_modality_models"][modality]["test"]["mean"] for r in reports]
    for modality in reports[0]["ablation"]["removed"]:
        rows[f"without {modality} (inference)"] = [r["ablation"]["removed"][modality]["auc"] for r in reports]
    rows["reference: the true latent hazard at t"] = [r["latent_hazard_auc"] for r in reports]
    return {name: mean_std(values) for name, values in rows.items()}


def margins(reports: list[dict]) -> dict:
    """Fused members' mean test AUC minus each comparator's, per universe and pooled."""
    def best_single(report):
        models = report["single_modality_models"]
        best = max(models, key=lambda m: models[m]["test"]["mean"])
        return best, models[best]["test"]["mean"]

    fused = [r["model"]["members"]["default"]["auc"]["mean"] for r in reports]
    comparators = {name: [r["baselines"][name]["test"]["mean"] for r in reports] for name in reports[0]["baselines"]}
    comparators["best single-modality model"] = [best_single(r)[1] for r in reports]
    out = {}
    for name, values in comparators.items():
        per_universe = [f - c for f, c in zip(fused, values)]
        out[name] = {"per_universe": per_universe, **mean_std(per_universe)}
    out["best single-modality model"]["which"] = [best_single(r)[0] for r in reports]
    return out


def drops(reports: list[dict]) -> dict:
    """What removing each modality at inference costs the ensemble's test AUC, per universe."""
    out = {}
    for modality in reports[0]["ablation"]["removed"]:
        per_universe = [
            r["model"]["ensemble"]["default"]["auc"] - r["ablation"]["removed"][modality]["auc"] for r in reports
        ]
        out[modality] = {"per_universe": per_universe, **mean_std(per_universe)}
    return out


def markdown(summary: dict, margin: dict, drop: dict, gates: list[bool]) -> str:
    lines = [f"The graph's model gate passed in {sum(gates)} of {len(gates)} universes "
             f"({', '.join('passed' if g else 'blocked' for g in gates)}).", ""]
    lines += ["| credit-default AUC, test split | mean over universes | std |", "|---|---|---|"]
    lines += [f"| {name} | {v['mean']:.3f} | {v['std']:.3f} |" for name, v in summary.items()]
    for heading, table in (("fused model minus", margin), ("ensemble AUC lost without, at inference", drop)):
        lines += ["", f"| {heading} | per universe | mean ± std |", "|---|---|---|"]
        for name, v in table.items():
            per_universe = ", ".join(f"{x:+.3f}" for x in v["per_universe"])
            lines.append(f"| {name} | {per_universe} | {v['mean']:+.3f} ± {v['std']:.3f} |")
    return "\n".join(lines)


def write_results(args, reports: list[dict], wall_seconds: float) -> str:
    summary, margin, drop = summarize(reports), margins(reports), drops(reports)
    table = markdown(summary, margin, drop, [r["gate"]["passed"] for r in reports])
    result = {
        "config": vars(args),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "summary": summary,
        "margins": margin,
        "drops": drop,
        "universes": {str(s): r for s, r in zip(args.universe_seeds, reports)},
        "markdown": table,
        "wall_seconds": wall_seconds,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    out.with_suffix(".md").write_text(table + "\n")
    return table


def combine(args) -> None:
    results = [json.loads(path.read_text()) for path in args.combine]
    args.universe_seeds = [int(seed) for result in results for seed in result["universes"]]
    reports = [report for result in results for report in result["universes"].values()]
    args.entities = results[0]["config"]["entities"]
    args.model_seeds = results[0]["config"]["model_seeds"]
    wall = sum(result["wall_seconds"] for result in results)
    args.combine = [str(path) for path in args.combine]
    print(write_results(args, reports, wall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--end", default="2025-12-31")
    # The demo's rate (MMRISK_SYNTHETIC_DEFAULT_RATE): 30+ default events in each test split.
    parser.add_argument("--default-rate", type=float, default=Settings.synthetic_default_rate,
                        help="defaults per slot-year in each universe")
    parser.add_argument("--universe-seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--model-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--single-modality-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=FusionConfig().epochs)
    parser.add_argument("--space-epochs", type=int, default=SharedSpaceConfig().epochs)
    parser.add_argument("--text-encoder", default="minilm")
    parser.add_argument("--homes", default=str(Path(tempfile.gettempdir()) / "mmrisk-benchmark-universes"),
                        help="one data home per universe under this folder (kept: open one with the UI)")
    parser.add_argument("--out", default="benchmarks/results/model_quality.json")
    parser.add_argument("--combine", nargs="+", type=Path, help="pool finished result files instead of running")
    args = parser.parse_args()
    if args.combine:
        combine(args)
        return
    started = time.perf_counter()
    if len(args.universe_seeds) == 1:
        torch.set_num_threads(os.cpu_count() or 1)
        seed = args.universe_seeds[0]
        report = run_universe(seed, args)
        print(f"universe seed {seed}: positive rows {report['events']}, default events {report['default_events']}, "
              f"{report['seconds']:.0f}s")
        print(write_results(args, [report], time.perf_counter() - started), flush=True)
        return
    # One process per universe: the graph's definitions read their settings once per process.
    parts = []
    for seed in list(args.universe_seeds):
        part = Path(args.homes) / f"universe-{seed}.json"
        command = [sys.executable, "-m", "benchmarks.model_quality", *sys.argv[1:], "--universe-seeds", str(seed),
                   "--out", str(part)]
        subprocess.run(command, check=True)
        parts.append(part)
        # Pooled after every universe so a long run leaves its finished part behind.
        args.combine = parts
        combine(args)


if __name__ == "__main__":
    main()
