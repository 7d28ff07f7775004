"""Real data against published results: StockNet movement, PhraseBank sentiment, UCI credit default.

StockNet goes through the Dagster graph itself: every asset of `full_refresh` materialized in
process with `MMRISK_SOURCE=stocknet` (what `make demo-stocknet` runs, with `--seeds` model
seeds), then `model_evaluation` read back. PhraseBank's undated sentences and UCI's single
snapshot have no place in a daily graph: they run the pipeline's source adapter, cleaning, text
encoder and model code through the task definitions of `ml.real_data`. Figures are mean ± std
over model seeds on fixed splits, plus the seed ensemble.

    python -m benchmarks.real_data \
        --stocknet ../shared/data/stocknet-dataset-dev.tar.gz \
        --phrasebank ../shared/data/financial_phrasebank/Sentences_50Agree_dev.txt \
        --uci ../shared/data/UCI_Credit_Card.csv

An archive that covers the published test quarter (prices to 2015-12) is run on the published
split and reports dev (the gate split) and test; the dev cut in `../shared/data` (it ends
2015-09-30) is split inside itself so that the published dev months are the untouched test split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks import BENCHMARK_SALT  # noqa: E402
from benchmarks.graph import home_environment, run_graph  # noqa: E402
from mmrisk_dagster.ml.real_data import (  # noqa: E402
    credit_task,
    prepare_credit,
    sentiment_cross_validation,
    sentiment_task,
)
from mmrisk_dagster.ml.sentiment import SentimentConfig  # noqa: E402
from mmrisk_dagster.settings import STOCKNET_SPLIT_DATES, stocknet_window  # noqa: E402
from mmrisk_dagster.sources import read_source_table  # noqa: E402
from mmrisk_dagster.sources.cleaning import clean  # noqa: E402

ALL_DATES = (pd.Timestamp("1990-01-01"), pd.Timestamp("2100-01-01"))
PUBLISHED = {
    "stocknet": "StockNet (Xu & Cohen 2018), test quarter: accuracy 58.23, MCC 0.081",
    "phrasebank": "FinBERT (Araci 2019), all-data: accuracy 0.86, F1 0.84",
    "uci_credit": "commonly reported: logistic regression AUC ~0.72, gradient boosting ~0.78",
}


def cleaned(kind: str, table: str, path: str) -> pd.DataFrame:
    """The table as the cleaned asset would hold it; quarantined rows are counted, not used."""
    raw = read_source_table(kind, table, *ALL_DATES, path=path)
    return clean(table, raw, BENCHMARK_SALT).clean


def stocknet_environment(args) -> tuple[dict[str, str], dict[str, str]]:
    """The graph's settings for this archive, and which split holds the published dev and test
    months: the settings choose the published split when the archive covers the test quarter,
    else one inside it whose test split is the published dev months (`stocknet_window`)."""
    path = str(Path(args.stocknet).resolve())
    env = {
        **home_environment(args.stocknet_home),
        "MMRISK_SOURCE": "stocknet",
        "MMRISK_SOURCE_PATH": path,
        "MMRISK_TEXT_ENCODER": args.tweet_encoder,
    }
    _, split_dates = stocknet_window(path)
    return env, ({"dev": "gate", "test": "test"} if split_dates == STOCKNET_SPLIT_DATES else {"dev": "test"})


def run_stocknet(args, seeds, progress) -> dict:
    env, published_as = stocknet_environment(args)
    run = run_graph(env, {"multitask_model": {"seeds": seeds}}, progress)
    report, card = run.evaluation, run.model_card
    task = report["primary_task"]
    out = {
        "graph_run": {"run_id": run.run_id, "success": run.success, "wall_seconds": run.wall_seconds},
        "split": card["split"],
        "primary_task": task,
        "gate": report["gate"],
        "test_comparison_auc": {name: v["auc"] for name, v in report.get("test_comparison", {}).get("models", {}).items()},
        "evaluation_markdown": report["markdown"],
        "tweet_encoder": args.tweet_encoder,
    }
    for published, split in published_as.items():
        ensemble = report["model"]["ensemble" if split == "test" else split][task]
        members = report["model"]["members" if split == "test" else "gate_members"][task]
        out[published] = {
            "split": split,
            "rows": ensemble["n"],
            "accuracy": {**members["accuracy"], "n": len(seeds)},
            "mcc": {**members["mcc"], "n": len(seeds)},
            "ensemble": {k: ensemble[k] for k in ("accuracy", "mcc", "auc")},
            # The ensemble's accuracy and MCC with their bootstrap error over entities and dates,
            # and the majority class's accuracy on the same months.
            "ensemble_uncertainty": report.get("cut_metrics", {}).get(split, {}),
        }
    progress(f"stocknet: graph run {'succeeded' if run.success else 'stopped (see gate)'}; dev {out['dev']}")
    return out


def sentiment_config(args) -> SentimentConfig:
    return SentimentConfig(trainable_layers=args.trainable_layers, epochs=args.sentiment_epochs, lr=args.sentiment_lr,
                           early_stopping=args.sentiment_early_stopping)


def run_phrasebank(args, seeds, progress) -> dict:
    news = cleaned("phrasebank", "news", args.phrasebank)
    test = cleaned("phrasebank", "news", args.phrasebank_test) if args.phrasebank_test else None
    config = sentiment_config(args)
    out = sentiment_task(news, seeds, config, test_news=test, progress=progress)
    return {**out, "evaluated_on": args.phrasebank_test or "seeded 80/20 split", "config": config.__dict__}


def cross_validate_phrasebank(args, progress) -> dict:
    """One configuration's out-of-fold figures on the training sentences (the test split unread)."""
    config = sentiment_config(args)
    started = time.perf_counter()
    out = sentiment_cross_validation(cleaned("phrasebank", "news", args.phrasebank), config, args.phrasebank_cv, 0, progress)
    return {**out, "config": config.__dict__, "wall_seconds": time.perf_counter() - started,
            "date": time.strftime("%Y-%m-%d")}


def run_uci(args, seeds, progress) -> dict:
    data = prepare_credit(cleaned("uci_credit", "fundamentals", args.uci), cleaned("uci_credit", "events", args.uci))
    return credit_task(data, seeds, progress=progress)


def _cell(entry) -> str:
    if isinstance(entry, dict) and "mean" in entry:
        return f"{entry['mean']:.4f} ± {entry['std']:.4f}" + (f" (n={entry['n']})" if entry.get("n", 0) < 3 else "")
    return f"{entry:.4f}" if isinstance(entry, float) and entry == entry else "–"


def _ensemble_cell(entry: dict, metric: str) -> str:
    """The seed ensemble's figure, with its bootstrap error over entities and dates where known."""
    error = entry.get("ensemble_uncertainty", {}).get(f"{metric}_std_error")
    return _cell(entry["ensemble"][metric]) + (f" ± {error:.4f}" if error is not None else "")


def markdown_table(results: dict) -> str:
    rows = ["| dataset | metric | this project (mean ± std over seeds) | seed ensemble | published |", "|---|---|---|---|---|"]
    stocknet = results.get("stocknet", {})
    for split in ("dev", "test"):
        if split in stocknet:
            for metric in ("accuracy", "mcc"):
                rows.append(f"| StockNet {split} | {metric} | {_cell(stocknet[split][metric])} | "
                            f"{_ensemble_cell(stocknet[split], metric)} | {'58.23%' if metric == 'accuracy' else '0.081'} (test) |")
            majority = stocknet[split].get("ensemble_uncertainty", {})
            if majority:
                rows.append(f"| StockNet {split} | accuracy of answering the majority class throughout | – | "
                            f"{majority['majority_class_accuracy']:.4f} ± {majority['majority_class_accuracy_std_error']:.4f} | – |")
    if stocknet.get("test_comparison_auc"):
        aucs = ", ".join(f"{name} {auc:.4f}" for name, auc in stocknet["test_comparison_auc"].items())
        rows.append(f"| StockNet, graph's test split | movement AUC | {aucs} | – | – |")
    phrasebank = results.get("phrasebank", {})
    for metric, published in (("accuracy", "0.86"), ("macro_f1", "0.84")):
        if phrasebank:
            rows.append(f"| PhraseBank | {metric} | {_cell(phrasebank[metric])} | {_cell(phrasebank['ensemble'][metric])} | FinBERT {published} |")
    credit = results.get("uci_credit", {})
    if credit:
        rows.append(f"| UCI credit | AUC fusion model | {_cell(credit['auc'])} | {_cell(credit['auc_ensemble'])} | – |")
        rows.append(f"| UCI credit | AUC logistic regression | {_cell(credit['auc_logreg'])} | – | ~0.72 |")
        rows.append(f"| UCI credit | AUC HistGradientBoosting | {_cell(credit['auc_hist_gbm'])} | "
                    f"{_cell(credit['auc_hist_gbm_ensemble'])} | ~0.78 |")
        rows.append(f"| UCI credit | AUC network + trees stack | {_cell(credit['auc_stack'])} | "
                    f"{_cell(credit['auc_stack_ensemble'])} | – |")
        margin = credit["stack_minus_hist_gbm"]
        rows.append(f"| UCI credit | stack − HistGradientBoosting (ensembles) | {margin['margin']:+.4f} ± "
                    f"{margin['std_error']:.4f} (95% {margin['ci_low']:+.4f}..{margin['ci_high']:+.4f}) | – | – |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocknet", help="StockNet folder or .tar.gz")
    parser.add_argument("--phrasebank", help="Financial PhraseBank Sentences_*.txt")
    parser.add_argument("--phrasebank-test", help="evaluate on this file instead of the internal 80/20 split")
    parser.add_argument("--phrasebank-cv", type=int, metavar="FOLDS",
                        help="instead of evaluating: out-of-fold figures of the sentiment settings on the training "
                             "sentences (the test split unread), appended to phrasebank_cross_validation")
    parser.add_argument("--uci", help="UCI_Credit_Card.csv")
    parser.add_argument("--out", default="benchmarks/results/real_data.json")
    parser.add_argument("--seeds", type=int, default=3, help="model seeds (the splits stay fixed)")
    parser.add_argument("--tweet-encoder", default="minilm", choices=("hashing", "minilm"),
                        help="the graph's text encoder for the tweets (MMRISK_TEXT_ENCODER; minilm is cached in the data home)")
    parser.add_argument("--stocknet-home", default=str(Path(tempfile.gettempdir()) / "mmrisk-benchmark-stocknet"),
                        help="MMRISK_HOME of the StockNet graph run (kept: open it with the UI, reuse its text cache)")
    parser.add_argument("--trainable-layers", type=int, default=SentimentConfig.trainable_layers, help="top MiniLM layers fine-tuned for sentiment")
    parser.add_argument("--sentiment-epochs", type=int, default=SentimentConfig.epochs)
    parser.add_argument("--sentiment-lr", type=float, default=SentimentConfig.lr, help="learning rate of the MiniLM layers")
    parser.add_argument("--sentiment-early-stopping", action="store_true",
                        help="hold out 10%% of the training sentences and keep each seed's best epoch on them, "
                             "instead of the last epoch trained on all of them")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "mmrisk-benchmark-cache"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    out = Path(args.out)
    # Datasets not run this time keep their last figures: one dataset can be re-measured alone.
    results: dict = json.loads(out.read_text()) if out.exists() else {}
    results.pop("markdown", None)
    if args.phrasebank_cv:
        # Selection, not evaluation: each run is kept beside the earlier ones, nothing else is run.
        trial = cross_validate_phrasebank(args, progress)
        results.setdefault("phrasebank_cross_validation", []).append(trial)
        progress(f"phrasebank cross-validation: accuracy {trial['accuracy']:.4f}, macro F1 {trial['macro_f1']:.4f}")
        out.write_text(json.dumps({**results, "markdown": markdown_table(results)}, indent=2, default=str))
        return
    ran = []
    for name, path, run in (("stocknet", args.stocknet, run_stocknet), ("phrasebank", args.phrasebank, run_phrasebank),
                            ("uci_credit", args.uci, run_uci)):
        if not path:
            continue
        task_started = time.perf_counter()
        progress(f"{name}: starting on {path}")
        results[name] = {**run(args, seeds, progress), "wall_seconds": time.perf_counter() - task_started,
                         "published": PUBLISHED[name], "path": str(path)}
        ran.append(name)
        progress(f"{name}: done in {results[name]['wall_seconds']:.0f}s")
    results["meta"] = {
        "datasets_run": ran,
        "seeds": seeds, "wall_seconds": time.perf_counter() - started, "threads": args.threads,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus".strip(),
        "python": platform.python_version(), "torch": torch.__version__,
    }
    table = markdown_table(results)
    results["markdown"] = table
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    progress(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
