"""Real data against published results: StockNet movement, PhraseBank sentiment, UCI credit default.

Every dataset goes through the pipeline's own code: the source adapter the raw assets call
(`sources.read_source_table`), the cleaning the cleaned assets run (`sources.cleaning`), the
feature, panel, text-encoder and model code of `ml/`, and the task definitions of
`ml.real_data`. Figures are mean ± std over model seeds on fixed splits, plus the seed ensemble.

    python benchmarks/real_data.py \
        --stocknet ../shared/data/stocknet-dataset-dev.tar.gz \
        --phrasebank ../shared/data/financial_phrasebank/Sentences_50Agree_dev.txt \
        --uci ../shared/data/UCI_Credit_Card.csv
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
from mmrisk_dagster.ml.real_data import (  # noqa: E402
    credit_task,
    prepare_credit,
    prepare_stocknet,
    sentiment_task,
    stocknet_task,
)
from mmrisk_dagster.ml.sentiment import SentimentConfig  # noqa: E402
from mmrisk_dagster.ml.text import EmbeddingCache, encode_texts, make_encoder  # noqa: E402
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


def run_stocknet(args, seeds, progress) -> dict:
    prices, social = cleaned("stocknet", "prices", args.stocknet), cleaned("stocknet", "social", args.stocknet)
    progress(f"stocknet: {len(prices)} price rows, {len(social)} tweets of {social['entity_id'].nunique()} stocks")
    cache = EmbeddingCache(Path(args.cache_dir) / "text_embeddings.duckdb")
    vectors, encoded = encode_texts(social["text"].tolist(), make_encoder(args.tweet_encoder, model_dir=Path(args.cache_dir) / "models"), cache)
    progress(f"stocknet: tweets encoded with {args.tweet_encoder} ({encoded} new, the rest from the cache)")
    data = prepare_stocknet(prices, social, vectors)
    progress(f"stocknet: samples {({k: len(v) for k, v in data.index.items()})}")
    return {**stocknet_task(data, seeds, progress=progress), "tweet_encoder": args.tweet_encoder}


def run_phrasebank(args, seeds, progress) -> dict:
    news = cleaned("phrasebank", "news", args.phrasebank)
    test = cleaned("phrasebank", "news", args.phrasebank_test) if args.phrasebank_test else None
    config = SentimentConfig(trainable_layers=args.trainable_layers, epochs=args.sentiment_epochs)
    out = sentiment_task(news, seeds, config, test_news=test, progress=progress)
    return {**out, "evaluated_on": args.phrasebank_test or "seeded 80/20 split", "config": config.__dict__}


def run_uci(args, seeds, progress) -> dict:
    data = prepare_credit(cleaned("uci_credit", "fundamentals", args.uci), cleaned("uci_credit", "events", args.uci))
    return credit_task(data, seeds, progress=progress)


def _cell(entry) -> str:
    if isinstance(entry, dict) and "mean" in entry:
        return f"{entry['mean']:.4f} ± {entry['std']:.4f}" + (f" (n={entry['n']})" if entry.get("n", 0) < 3 else "")
    return f"{entry:.4f}" if isinstance(entry, float) and entry == entry else "–"


def markdown_table(results: dict) -> str:
    rows = ["| dataset | metric | this project (mean ± std over seeds) | seed ensemble | published |", "|---|---|---|---|---|"]
    stocknet = results.get("stocknet", {})
    for split in ("dev", "test"):
        if split in stocknet:
            for metric in ("accuracy", "mcc"):
                rows.append(f"| StockNet {split} | {metric} | {_cell(stocknet[split][metric])} | "
                            f"{_cell(stocknet[split]['ensemble'][metric])} | {'58.23%' if metric == 'accuracy' else '0.081'} (test) |")
    phrasebank = results.get("phrasebank", {})
    for metric, published in (("accuracy", "0.86"), ("macro_f1", "0.84")):
        if phrasebank:
            rows.append(f"| PhraseBank | {metric} | {_cell(phrasebank[metric])} | {_cell(phrasebank['ensemble'][metric])} | FinBERT {published} |")
    credit = results.get("uci_credit", {})
    if credit:
        rows.append(f"| UCI credit | AUC fusion model | {_cell(credit['auc'])} | {_cell(credit['auc_ensemble'])} | – |")
        rows.append(f"| UCI credit | AUC logistic regression | {_cell(credit['auc_logreg'])} | – | ~0.72 |")
        rows.append(f"| UCI credit | AUC HistGradientBoosting | {_cell(credit['auc_hist_gbm'])} | – | ~0.78 |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocknet", help="StockNet folder or .tar.gz")
    parser.add_argument("--phrasebank", help="Financial PhraseBank Sentences_*.txt")
    parser.add_argument("--phrasebank-test", help="evaluate on this file instead of the internal 80/20 split")
    parser.add_argument("--uci", help="UCI_Credit_Card.csv")
    parser.add_argument("--out", default="benchmarks/results/real_data.json")
    parser.add_argument("--seeds", type=int, default=3, help="model seeds (the splits stay fixed)")
    parser.add_argument("--tweet-encoder", default="hashing", choices=("hashing", "minilm"),
                        help="text encoder for the 92k tweets (minilm costs ~10 CPU-minutes on 2 cores, once: cached)")
    parser.add_argument("--trainable-layers", type=int, default=SentimentConfig.trainable_layers, help="top MiniLM layers fine-tuned for sentiment")
    parser.add_argument("--sentiment-epochs", type=int, default=SentimentConfig.epochs)
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "mmrisk-benchmark-cache"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    results: dict = {}
    for name, path, run in (("stocknet", args.stocknet, run_stocknet), ("phrasebank", args.phrasebank, run_phrasebank),
                            ("uci_credit", args.uci, run_uci)):
        if not path:
            continue
        task_started = time.perf_counter()
        progress(f"{name}: starting on {path}")
        results[name] = {**run(args, seeds, progress), "wall_seconds": time.perf_counter() - task_started,
                         "published": PUBLISHED[name], "path": str(path)}
        progress(f"{name}: done in {results[name]['wall_seconds']:.0f}s")
    results["meta"] = {
        "seeds": seeds, "wall_seconds": time.perf_counter() - started, "threads": args.threads,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus".strip(),
        "python": platform.python_version(), "torch": torch.__version__,
    }
    table = markdown_table(results)
    results["markdown"] = table
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    progress(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
