"""Embedding-stage speed: MiniLM backends on real tweets, cache, chart rendering, shared space.

    python -m benchmarks.embeddings --out benchmarks/results/embeddings.json

Text encoding runs on distinct StockNet tweets (`--stocknet`, default ../shared/data): each
backend encodes the same sample `--repeats` times (interleaved, so load on the machine falls on
both alike), with the cosine of every vector to the torch reference. The warm-cache, chart and
shared-space figures use the default synthetic universe through the core functions the assets call.
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks import BENCHMARK_SALT  # noqa: E402
from mmrisk_dagster.ml.features import chart_images, fundamentals_asof, price_windows  # noqa: E402
from mmrisk_dagster.ml.inputs import infer_dims, panel_arrays  # noqa: E402
from mmrisk_dagster.ml.minilm import export_minilm_onnx, minilm_tokenizer, quantize_minilm_onnx  # noqa: E402
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE, PanelSpec, assemble_panel  # noqa: E402
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig, fit_shared_space  # noqa: E402
from mmrisk_dagster.ml.splits import SplitSpec, chronological_split, split_index  # noqa: E402
from mmrisk_dagster.ml.text import EmbeddingCache, encode_texts, make_encoder, tone_axis  # noqa: E402
from mmrisk_dagster.ml.text_summary import aggregate_text  # noqa: E402
from mmrisk_dagster.settings import TEXT_BACKENDS  # noqa: E402
from mmrisk_dagster.sources.cleaning import clean as clean_table  # noqa: E402
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns  # noqa: E402
from mmrisk_dagster.sources.stocknet import load_stocknet  # noqa: E402
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe  # noqa: E402


def build_panel(config: SyntheticConfig, cache: EmbeddingCache) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The modality panel of a synthetic universe from the core functions the assets call, and
    its cleaned tables: the stages timed one by one below."""
    universe = cached_universe(config)
    clean = {t: clean_table(t, universe.table(t), BENCHMARK_SALT).clean for t in ("fundamentals", "prices", "news", "social")}
    dates = pd.DatetimeIndex(sorted(clean["prices"]["date"].unique()))
    encoder = make_encoder("minilm", model_dir=cache.path.parent / "models")
    news, social = clean["news"], clean["social"]
    news_vectors, _ = encode_texts((news["headline"] + ". " + news["body"].fillna("")).str.strip(" .").tolist(), encoder, cache)
    social_vectors, _ = encode_texts(social["text"].tolist(), encoder, cache)
    axis = tone_axis(encoder, cache)
    fundamentals = clean["fundamentals"]
    embeddings = {
        "fundamentals": fundamentals_asof(fundamentals, dates, fundamental_feature_columns(fundamentals)),
        "prices": price_windows(clean["prices"], dates),
        "chart": chart_images(clean["prices"], dates),
        "news": aggregate_text(news, news_vectors, axis),
        "social": aggregate_text(social, social_vectors, axis, author_column="author_id"),
    }
    return assemble_panel(embeddings, dates, PanelSpec(DEFAULT_MAX_AGE)), clean


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def mean_std(values) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": [float(v) for v in values]}


def backend_comparison(texts: list[str], workdir: Path, repeats: int, threads: int) -> dict:
    """Texts/s of each MiniLM backend over `repeats` interleaved runs, and cosine to the reference."""
    export_started = time.perf_counter()
    export_minilm_onnx(workdir / "models")
    export_seconds = time.perf_counter() - export_started
    quantize_started = time.perf_counter()
    quantize_minilm_onnx(workdir / "models")
    quantize_seconds = time.perf_counter() - quantize_started
    encoders = {b: make_encoder("minilm", backend=b, model_dir=workdir / "models", threads=threads) for b in TEXT_BACKENDS}
    for encoder in encoders.values():
        encoder.encode(texts[:64])  # load weights and sessions outside the timing
    rates: dict[str, list[float]] = {b: [] for b in encoders}
    vectors = {}
    for _ in range(repeats):
        for backend, encoder in encoders.items():
            started = time.perf_counter()
            vectors[backend] = encoder.encode(texts)
            rates[backend].append(len(texts) / (time.perf_counter() - started))
    fast = [b for b in encoders if b != "torch"]
    cosine = {b: (vectors[b] * vectors["torch"]).sum(axis=1) for b in fast}
    return {
        "texts": len(texts),
        "onnx_export_seconds": export_seconds,
        "int8_quantization_seconds": quantize_seconds,
        "texts_per_second": {b: mean_std(r) for b, r in rates.items()},
        "speedup": {b: mean_std(np.array(rates[b]) / np.array(rates["torch"])) for b in fast},
        "cosine_to_reference": {
            b: {"min": float(c.min()), "p1": float(np.percentile(c, 1)), "mean": float(c.mean())} for b, c in cosine.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=50)
    parser.add_argument("--space-epochs", type=int, default=3)
    parser.add_argument("--stocknet", default="../shared/data/stocknet-dataset-dev.tar.gz")
    parser.add_argument("--what-else-ran", default="nothing else", help="the machine's other load, recorded with the figures")
    parser.add_argument("--tweets", type=int, default=4000, help="distinct tweets sampled for the backend comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/embeddings.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="mmrisk-bench-"))

    tweets = sorted(set(load_stocknet(args.stocknet).social["text"]))
    sample = [tweets[i] for i in np.random.default_rng(0).choice(len(tweets), min(args.tweets, len(tweets)), replace=False)]
    token_lengths = np.array([len(e.ids) for e in minilm_tokenizer().encode_batch(tweets)])
    backends = backend_comparison(sample, workdir, args.repeats, args.threads)

    config = SyntheticConfig(n_entities=args.entities)
    panel, clean = build_panel(config, EmbeddingCache(workdir / "panel-cache.duckdb"))
    texts = clean["news"]["headline"].tolist() + clean["social"]["text"].tolist()
    unique = len(set(texts))
    encoder = make_encoder("minilm", model_dir=workdir / "models", threads=args.threads)
    cache = EmbeddingCache(workdir / "cache.duckdb")
    (_, encoded), cold = timed(lambda: encode_texts(texts, encoder, cache))
    (_, again), warm = timed(lambda: encode_texts(texts, encoder, cache))
    assert again == 0, "the warm run must not encode anything"

    prices = clean["prices"]
    dates = pd.DatetimeIndex(sorted(prices["date"].unique()))
    charts, chart_seconds = timed(lambda: chart_images(prices, dates))
    windows, window_seconds = timed(lambda: price_windows(prices, dates))

    dims = infer_dims(panel)
    arrays = panel_arrays(panel, dims)
    train = split_index(arrays.keys, chronological_split(arrays.keys["date"], SplitSpec()))["train"]
    _, history = fit_shared_space(arrays.subset(train), dims, SharedSpaceConfig(epochs=args.space_epochs))
    epoch_seconds = [h["seconds"] for h in history]

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "what_else_ran": args.what_else_ran,
        "stocknet_tweets": {
            "distinct": len(tweets),
            "minilm_tokens": {p: float(np.percentile(token_lengths, p)) for p in (50, 90, 99, 100)},
        },
        "minilm_backends": backends,
        "texts": len(texts),
        "unique_texts": unique,
        "text_encoding": {
            "cold_seconds": cold,
            "cold_texts_per_second": len(texts) / cold,
            "cold_unique_texts_per_second": encoded / cold,
            "warm_seconds": warm,
            "warm_texts_per_second": len(texts) / warm,
            "warm_speedup": cold / warm,
        },
        "chart_rendering": {"charts": len(charts), "seconds": chart_seconds, "charts_per_second": len(charts) / chart_seconds},
        "price_windows": {"windows": len(windows), "seconds": window_seconds},
        "shared_space": {
            "train_rows": int(len(train)),
            "epoch_seconds": {"mean": float(np.mean(epoch_seconds)), "std": float(np.std(epoch_seconds))},
        },
    }
    rate = backends["texts_per_second"]
    cosine = backends["cosine_to_reference"]
    table = "\n".join(
        [
            "| embedding stage | result |",
            "|---|---|",
            (
                f"| MiniLM on StockNet tweets, torch reference ({backends['texts']:,} distinct, {args.repeats} runs, "
                f"{args.threads} threads) | {rate['torch']['mean']:.0f} ± {rate['torch']['std']:.0f} texts/s |"
            ),
            *(
                (
                    f"| same tweets, {label} | {rate[b]['mean']:.0f} ± {rate[b]['std']:.0f} texts/s "
                    f"({backends['speedup'][b]['mean']:.2f} ± {backends['speedup'][b]['std']:.2f}x); cosine to reference "
                    f"min {cosine[b]['min']:.4f}, 1st percentile {cosine[b]['p1']:.4f}, mean {cosine[b]['mean']:.4f} |"
                )
                for b, label in (("onnx", "ONNX Runtime (`onnx`, default)"), ("onnx-int8", "ONNX Runtime, int8 weights (`onnx-int8`)"))
            ),
            (
                f"| one-time ONNX export from the packaged weights; int8 quantization | "
                f"{backends['onnx_export_seconds']:.1f} s; {backends['int8_quantization_seconds']:.1f} s |"
            ),
            f"| MiniLM (ONNX) text encoding, cold cache ({len(texts):,} texts, {unique:,} distinct) | {cold:.1f} s ({encoded / cold:.0f} distinct texts/s) |",
            f"| same texts, warm cache | {warm:.2f} s ({cold / warm:.0f}x faster) |",
            f"| chart rendering (64x60, bit-packed) | {len(charts) / chart_seconds:,.0f} charts/s |",
            f"| shared-space training, {len(train):,} rows | {np.mean(epoch_seconds):.1f} ± {np.std(epoch_seconds):.1f} s per epoch |",
        ]
    )
    result["markdown"] = table
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
