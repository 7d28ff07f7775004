"""Model quality on synthetic universes: the fused model against its baselines.

Runs the project's core (the functions the assets call) on one or more synthetic universes,
fits the shared space and the model ensemble on the training dates, and reports the chronological
test split's credit-default AUC for the fused model, the TF-IDF + logistic regression and
HistGradientBoosting baselines, models trained on a single modality, and the fused model with each
modality removed at inference. Figures are mean ± std over model seeds, per universe and pooled.

    python -m benchmarks.model_quality --entities 100 --universe-seeds 11 12 13 --out benchmarks/results/model_quality.json

Universes are independent: run them as separate processes (each with its own `--cache`, since a
DuckDB file has one writer) and pool their JSON files with `--combine a.json b.json ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from mmrisk_dagster.ml.baselines import entity_date_texts  # noqa: E402
from mmrisk_dagster.ml.evaluation import evaluate, member_summary  # noqa: E402
from mmrisk_dagster.ml.features import chart_images, fundamentals_asof, price_windows  # noqa: E402
from mmrisk_dagster.ml.text_summary import aggregate_text  # noqa: E402
from mmrisk_dagster.ml.fusion import FusionConfig  # noqa: E402
from mmrisk_dagster.ml.inputs import infer_dims  # noqa: E402
from mmrisk_dagster.ml.labels import build_labels  # noqa: E402
from mmrisk_dagster.ml.metrics import binary_metrics, mean_std  # noqa: E402
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE, PanelSpec, assemble_panel  # noqa: E402
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig, fit_on_training_window  # noqa: E402
from mmrisk_dagster.ml.text import EmbeddingCache, encode_texts, make_encoder, tone_axis  # noqa: E402
from mmrisk_dagster.ml.splits import SplitSpec  # noqa: E402
from mmrisk_dagster.ml.training import fit_ensemble, prepare  # noqa: E402
from benchmarks import BENCHMARK_SALT  # noqa: E402
from mmrisk_dagster.sources.cleaning import clean as clean_table  # noqa: E402
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns  # noqa: E402
from mmrisk_dagster.settings import Settings  # noqa: E402
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe  # noqa: E402


def build_panel(config: SyntheticConfig, text_encoder: str, cache: EmbeddingCache):
    universe = cached_universe(config)
    clean = {
        t: clean_table(t, universe.table(t), BENCHMARK_SALT).clean
        for t in ("fundamentals", "prices", "news", "social", "events")
    }
    dates = pd.DatetimeIndex(sorted(clean["prices"]["date"].unique()))
    encoder = make_encoder(text_encoder, model_dir=cache.path.parent / "models")
    news, social = clean["news"], clean["social"]
    news_vectors, _ = encode_texts((news["headline"] + ". " + news["body"].fillna("")).str.strip(" .").tolist(), encoder, cache)
    social_vectors, _ = encode_texts(social["text"].tolist(), encoder, cache)
    axis = tone_axis(encoder, cache)
    embeddings = {
        "fundamentals": fundamentals_asof(clean["fundamentals"], dates, fundamental_feature_columns(clean["fundamentals"]), 130),
        "prices": price_windows(clean["prices"], dates),
        "chart": chart_images(clean["prices"], dates),
        "news": aggregate_text(news, news_vectors, axis),
        "social": aggregate_text(social, social_vectors, axis, author_column="author_id"),
    }
    panel = assemble_panel(embeddings, dates, PanelSpec(DEFAULT_MAX_AGE))
    labels = build_labels(clean["prices"], clean["events"], news, horizon=20)
    return panel, labels, clean


def latent_hazard_auc(config: SyntheticConfig, data) -> float:
    """Test AUC of the true daily hazard at t, which the generator knows and no model sees: how
    much of the default signal a point-in-time model could reach if it recovered the latent state."""
    keys = data.arrays.keys.iloc[data.index["test"]]
    hazard = keys.merge(cached_universe(config).latent, on=["entity_id", "date"], how="left")["hazard"].to_numpy()
    y = data.labels.values["default"][data.index["test"]]
    known = ~np.isnan(y) & ~np.isnan(hazard)
    return binary_metrics(y[known], hazard[known])["auc"]


def run_universe(config, args, cache) -> dict:
    started = time.perf_counter()
    panel, labels, clean = build_panel(config, args.text_encoder, cache)
    dims = infer_dims(panel)
    spec = SplitSpec()
    data = prepare(panel, labels, dims, spec)
    held_out = np.concatenate([data.index["validation"], data.index["gate"], data.index["test"]])
    space, _, retrieval = fit_on_training_window(data.arrays, dims, data.index["train"], held_out, SharedSpaceConfig(epochs=args.space_epochs))
    fusion = FusionConfig(d=space.d, epochs=args.epochs)
    fitted = fit_ensemble(data, space.encoders.state_dict(), dims, fusion, args.model_seeds)
    texts = entity_date_texts(data.arrays.keys, clean["news"], clean["social"], DEFAULT_MAX_AGE["news"])
    report = evaluate(fitted.models, data, fitted.calibrator, texts, args.model_seeds, space, args.single_modality_seeds)
    # The same model without its wide term: what the linear per-modality summaries add.
    deep = fit_ensemble(data, space.encoders.state_dict(), dims, replace(fusion, wide=False), args.model_seeds)
    report["deep_only"] = member_summary(deep.models, data, data.index["test"], deep.calibrator)["default"]
    report["retrieval"] = {k: retrieval[k] for k in ("mean_recall", "mean_random")}
    report["latent_hazard_auc"] = latent_hazard_auc(config, data)
    positive = {split: idx[data.labels.values["default"][idx] == 1] for split, idx in data.index.items()}
    report["events"] = {split: len(rows) for split, rows in positive.items()}
    report["default_events"] = {split: int(data.arrays.keys["entity_id"].iloc[rows].nunique()) for split, rows in positive.items()}
    report["seconds"] = time.perf_counter() - started
    return report


def summarize(reports: list[dict]) -> dict:
    def member_aucs(report):
        return report["model"]["members"]["default"]["auc"]

    rows = {"fused model": [member_aucs(r)["mean"] for r in reports]}
    rows["fused model, deep part only (no wide term)"] = [r["deep_only"]["auc"]["mean"] for r in reports]
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
    comparators["deep part only"] = [r["deep_only"]["auc"]["mean"] for r in reports]
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


def markdown(summary: dict, margin: dict, drop: dict) -> str:
    lines = ["| credit-default AUC, test split | mean over universes | std |", "|---|---|---|"]
    lines += [f"| {name} | {v['mean']:.3f} | {v['std']:.3f} |" for name, v in summary.items()]
    for heading, table in (("fused model minus", margin), ("ensemble AUC lost without, at inference", drop)):
        lines += ["", f"| {heading} | per universe | mean ± std |", "|---|---|---|"]
        for name, v in table.items():
            per_universe = ", ".join(f"{x:+.3f}" for x in v["per_universe"])
            lines.append(f"| {name} | {per_universe} | {v['mean']:+.3f} ± {v['std']:.3f} |")
    return "\n".join(lines)


def write_results(args, reports: list[dict], wall_seconds: float) -> str:
    summary, margin, drop = summarize(reports), margins(reports), drops(reports)
    table = markdown(summary, margin, drop)
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
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "mmrisk-benchmark-cache.duckdb"))
    parser.add_argument("--out", default="benchmarks/results/model_quality.json")
    parser.add_argument("--combine", nargs="+", type=Path, help="pool finished result files instead of running")
    args = parser.parse_args()
    if args.combine:
        combine(args)
        return
    torch.set_num_threads(os.cpu_count() or 1)
    cache = EmbeddingCache(args.cache)
    started = time.perf_counter()
    reports = []
    for seed in args.universe_seeds:
        config = SyntheticConfig(n_entities=args.entities, seed=seed, start=date.fromisoformat(args.start),
                                 end=date.fromisoformat(args.end), annual_default_rate=args.default_rate)
        report = run_universe(config, args, cache)
        reports.append(report)
        print(f"universe seed {seed}: positive rows {report['events']}, default events {report['default_events']}, {report['seconds']:.0f}s")
        print(report["markdown"], flush=True)
        # Written after every universe so a long run leaves its finished part behind.
        table = write_results(args, reports, time.perf_counter() - started)
    print(table)


if __name__ == "__main__":
    main()
