"""Text encoders and a persistent embedding cache keyed by a hash of the normalized text.

MiniLM (ml/minilm.py) is the pretrained encoder; `HashingEncoder` is a stateless fallback (hashed
word and bigram counts through a fixed random projection) for machines without the model or for
quick tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd
from filelock import FileLock

from mmrisk_dagster.ml.minilm import MINILM_DIM, MiniLMEncoder, OnnxMiniLMEncoder
from mmrisk_dagster.ml.progress import ProgressReporter
from mmrisk_dagster.settings import TEXT_BACKENDS, TEXT_ENCODERS

TEXT_DIM = MINILM_DIM  # every encoder gives vectors as wide as MiniLM's
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _SPACES.sub(" ", str(text)).strip()


def text_key(encoder_name: str, text: str) -> str:
    return hashlib.sha1(f"{encoder_name}\x00{normalize_text(text)}".encode()).hexdigest()


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class HashingEncoder:
    name = "hashing-384"
    dim = TEXT_DIM

    def __init__(self, n_features: int = 2**18, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=True, norm="l2")
        self.seed = seed

    def encode(self, texts: list[str]) -> np.ndarray:
        sparse = self.vectorizer.transform(texts)  # CSR: `indices` are the hashed columns in use
        columns = np.unique(sparse.indices)
        # Each hashed column gets a Gaussian row seeded by its id, so no state is fitted or kept.
        projection = np.zeros((len(columns), self.dim), dtype=np.float32)
        for i, column in enumerate(columns):
            projection[i] = np.random.default_rng([self.seed, int(column)]).standard_normal(self.dim)
        dense = np.asarray(sparse[:, columns] @ projection, dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return dense / np.maximum(norms, 1e-8)


def make_encoder(
    name: str, batch_size: int = 128, backend: str = "onnx", model_dir: str | Path | None = None, threads: int = 2
) -> TextEncoder:
    """`minilm` on the `onnx` backend (exported into `model_dir` at first use), its quantized
    `onnx-int8` form or the `torch` reference, or the `hashing` fallback."""
    if name == "hashing":
        return HashingEncoder()
    if name != "minilm":
        raise ValueError(f"unknown text encoder '{name}' (choose one of {TEXT_ENCODERS})")
    if backend == "torch":
        return MiniLMEncoder(batch_size=batch_size)
    if backend in ("onnx", "onnx-int8"):
        if model_dir is None:
            raise ValueError(f"the {backend} text backend needs a folder to export the model into (model_dir)")
        return OnnxMiniLMEncoder(model_dir, batch_size=batch_size, threads=threads, quantized=backend == "onnx-int8")
    raise ValueError(f"unknown text backend '{backend}' (choose one of {TEXT_BACKENDS})")


class EmbeddingCache:
    """DuckDB table of (key, vector). Access is serialized across processes by a file lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path) + ".lock", timeout=300)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path))
        con.execute("CREATE TABLE IF NOT EXISTS text_embeddings (key VARCHAR PRIMARY KEY, vector FLOAT[])")
        return con

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        wanted = pd.DataFrame({"key": keys})
        with self._lock, self._connect() as con:
            con.register("wanted", wanted)
            found = con.execute("SELECT e.key, e.vector FROM text_embeddings e JOIN wanted USING (key)").df()
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(found["key"], found["vector"])}

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        rows = pd.DataFrame({"key": keys, "vector": list(vectors.astype(np.float32))})
        with self._lock, self._connect() as con:
            con.register("rows", rows)
            con.execute("INSERT OR REPLACE INTO text_embeddings SELECT key, vector FROM rows")

    def size(self) -> int:
        with self._lock, self._connect() as con:
            (count,) = con.execute("SELECT count(*) FROM text_embeddings").fetchone() or (0,)
            return count


# Plain financial phrases of either tone, written for this purpose (not drawn from any dataset):
# the direction from the negative ones' mean vector to the positive ones' is a tone axis in the
# encoder's own space, so a document's tone is one dot product, with nothing fitted.
TONE_ANCHORS = {
    "positive": (
        "profits rise",
        "strong growth",
        "shares rally",
        "analysts upgrade the stock",
        "beats expectations",
        "record earnings",
        "good news for investors",
        "revenue increased",
        "bullish",
    ),
    "negative": (
        "losses widen",
        "shares plunge",
        "analysts downgrade the stock",
        "misses expectations",
        "risk of default",
        "bankruptcy",
        "bad news for investors",
        "revenue decreased",
        "bearish",
    ),
}


def tone_axis(encoder: TextEncoder, cache: EmbeddingCache | None = None) -> np.ndarray:
    """Unit vector from the negative anchors' mean to the positive anchors' mean (`TONE_ANCHORS`)."""
    positive, _ = encode_texts(list(TONE_ANCHORS["positive"]), encoder, cache)
    negative, _ = encode_texts(list(TONE_ANCHORS["negative"]), encoder, cache)
    axis = positive.mean(axis=0) - negative.mean(axis=0)
    return (axis / max(float(np.linalg.norm(axis)), 1e-12)).astype(np.float32)


def encode_texts(
    texts: list[str],
    encoder: TextEncoder,
    cache: EmbeddingCache | None,
    log: Callable[[str], object] | None = None,
    chunk_size: int = 4096,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts` (row-aligned) and how many distinct texts had to be encoded.

    The texts missing from the cache are encoded shortest first in chunks of `chunk_size`,
    and each chunk is stored before the next starts, so a run that dies keeps what it
    encoded. `log` gets a progress line at every tenth with the rate and an estimate.
    """
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    normalized = [normalize_text(t) for t in texts]
    keys = [text_key(encoder.name, t) for t in normalized]
    unique = dict(zip(keys, normalized))
    known = cache.get(list(unique)) if cache is not None else {}
    # Similar lengths side by side: each batch pads to its longest text, so less padding.
    missing = sorted((k for k in unique if k not in known), key=lambda k: len(unique[k]))
    progress = ProgressReporter(f"encoding texts with {encoder.name}", len(missing), log) if log and missing else None
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        fresh = encoder.encode([unique[k] for k in chunk])
        known.update(zip(chunk, fresh))
        if cache is not None:
            cache.put(chunk, fresh)
        if progress is not None:
            progress.advance(len(chunk))
    return np.stack([known[k] for k in keys]), len(missing)
