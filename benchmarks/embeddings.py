"""Embedding-stage speed: text encoding cold vs warm cache, chart rendering, shared-space epochs.

    python -m benchmarks.embeddings --out benchmarks/results/embeddings.json

Uses the default synthetic universe's cleaned news and social texts, its price windows and its
modality panel built by the same core functions the assets call.
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

from mmrisk_dagster.ml.features import chart_images, price_windows  # noqa: E402
from mmrisk_dagster.ml.inputs import infer_dims, panel_arrays  # noqa: E402
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig, fit_shared_space  # noqa: E402
from mmrisk_dagster.ml.text import EmbeddingCache, encode_texts, make_encoder  # noqa: E402
from mmrisk_dagster.ml.training import SplitSpec, chronological_split, split_index  # noqa: E402
from mmrisk_dagster.sources.synthetic import SyntheticConfig  # noqa: E402

from benchmarks.model_quality import build_panel  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=50)
    parser.add_argument("--space-epochs", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/embeddings.json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    workdir = Path(tempfile.mkdtemp(prefix="mmrisk-bench-"))
    config = SyntheticConfig(n_entities=args.entities)

    # The panel build also yields the cleaned tables; its own text cache is throwaway.
    panel, _, clean = build_panel(config, "minilm", EmbeddingCache(workdir / "panel-cache.duckdb"))
    texts = clean["news"]["headline"].tolist() + clean["social"]["text"].tolist()
    unique = len(set(texts))
    encoder = make_encoder("minilm")
    encoder.encode(["warm up the model weights"])
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
    table = "\n".join(
        [
            "| embedding stage | result |",
            "|---|---|",
            f"| MiniLM text encoding, cold cache ({len(texts):,} texts, {unique:,} distinct) | {cold:.1f} s ({encoded / cold:.0f} distinct texts/s) |",
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
