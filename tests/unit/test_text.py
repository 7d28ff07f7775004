from pathlib import Path

import numpy as np
import pytest

from mmrisk_dagster.ml.minilm import MiniLMEncoder
from mmrisk_dagster.ml.progress import ProgressReporter, format_duration
from mmrisk_dagster.ml.text import (
    EmbeddingCache,
    HashingEncoder,
    encode_texts,
    make_encoder,
    text_key,
)


def test_cache_is_keyed_by_normalized_text_and_skips_known_texts(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.duckdb")
    encoder = HashingEncoder()
    first, encoded = encode_texts(["a  b", "c d", "a b"], encoder, cache)
    assert encoded == 2 and cache.size() == 2
    np.testing.assert_array_equal(first[0], first[2])
    second, encoded = encode_texts(["a b", "c d"], encoder, cache)
    assert encoded == 0
    np.testing.assert_array_equal(second, first[:2])
    assert text_key("x", " a\tb ") == text_key("x", "a b") != text_key("y", "a b")


def test_hashing_encoder_is_stateless_and_normalized():
    a = HashingEncoder().encode(["profits surge", "profits collapse"])
    b = HashingEncoder().encode(["profits surge"])
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, rtol=1e-5)


def test_minilm_loads_offline_and_encodes_meaning():
    vectors = MiniLMEncoder().encode(
        ["Company shares plunge after profit warning", "Stock falls sharply on weak earnings outlook", "The cat sat on the mat"]
    )
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


class _DiesAfter:
    """A HashingEncoder that fails on its `calls + 1`-th call, like a run killed halfway."""

    name, dim = HashingEncoder.name, HashingEncoder.dim

    def __init__(self, calls: int):
        self.calls, self.inner = calls, HashingEncoder()

    def encode(self, texts):
        if self.calls == 0:
            raise RuntimeError("killed")
        self.calls -= 1
        return self.inner.encode(texts)


def test_a_run_that_dies_halfway_keeps_what_it_encoded(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.duckdb")
    texts = [f"post number {i}" for i in range(10)]
    with pytest.raises(RuntimeError, match="killed"):
        encode_texts(texts, _DiesAfter(calls=2), cache, chunk_size=3)
    assert cache.size() == 6
    vectors, encoded = encode_texts(texts, HashingEncoder(), cache, chunk_size=3)
    assert encoded == 4 and cache.size() == 10
    np.testing.assert_allclose(vectors, HashingEncoder().encode(texts), rtol=1e-6)


def test_encoding_logs_progress_at_each_tenth_with_rate_and_estimate(tmp_path):
    lines: list[str] = []
    encode_texts([f"post {i}" for i in range(100)], HashingEncoder(), None, log=lines.append, chunk_size=10)
    assert len(lines) == 10
    assert lines[0].startswith("encoding texts with hashing-384: 10/100 (10%), ")
    assert "/s, about " in lines[0] and lines[-1].endswith(", done")


def test_progress_reporter_reports_each_tenth_once_with_rate_and_eta():
    lines: list[str] = []
    now = [0.0]
    progress = ProgressReporter("encoding", 1000, lines.append, clock=lambda: now[0])
    for _ in range(9):
        now[0] += 1.0
        progress.advance(50)
    assert lines == [
        "encoding: 100/1,000 (10%), 50/s, about 18s left",
        "encoding: 200/1,000 (20%), 50/s, about 16s left",
        "encoding: 300/1,000 (30%), 50/s, about 14s left",
        "encoding: 400/1,000 (40%), 50/s, about 12s left",
    ]
    now[0] += 110.0
    progress.advance(550)  # crosses five tenths at once: one line, not five
    assert lines[-1] == "encoding: 1,000/1,000 (100%), 8/s, done"
    assert len(lines) == 5


def test_durations_read_as_a_person_would_say_them():
    assert [format_duration(s) for s in (4.4, 75, 3 * 3600 + 125)] == ["4s", "1m15s", "3h02m"]


STOCKNET = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "stocknet-dataset-dev.tar.gz"


@pytest.mark.skipif(not STOCKNET.exists(), reason="needs ../shared/data/stocknet-dataset-dev.tar.gz")
def test_the_default_onnx_backend_gives_the_reference_vectors_on_real_tweets(tmp_path):
    from mmrisk_dagster.sources.stocknet import load_stocknet

    tweets = sorted(set(load_stocknet(STOCKNET).social["text"]))
    sample = [tweets[i] for i in np.random.default_rng(1).choice(len(tweets), 300, replace=False)]
    sample += ["Company shares plunge after profit warning", "x", " ".join(["long"] * 400)]  # empty-ish and truncated
    reference = make_encoder("minilm", backend="torch").encode(sample)
    fast = make_encoder("minilm", model_dir=tmp_path)  # the default backend
    assert fast.name != MiniLMEncoder.name, "each backend needs its own cache entries"
    cosine = (fast.encode(sample) * reference).sum(axis=1)
    assert cosine.min() >= 0.99, f"cosine to the reference as low as {cosine.min():.4f}"
    assert list(tmp_path.glob("*.onnx")), "the model is exported into the folder given"
    int8 = make_encoder("minilm", backend="onnx-int8", model_dir=tmp_path)
    assert len({int8.name, fast.name, MiniLMEncoder.name}) == 3
    cosine = (int8.encode(sample) * reference).sum(axis=1)
    # int8 activations move each vector a little: close on average, none far off.
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.95, (cosine.mean(), cosine.min())


@pytest.mark.parametrize(
    ("variable", "value"), [("MMRISK_TEXT_ENCODER", "bert"), ("MMRISK_TEXT_BACKEND", "int8"), ("MMRISK_SOURCE", "csv")]
)
def test_a_mistyped_setting_stops_the_code_location_naming_the_variable_and_the_choices(monkeypatch, variable, value):
    from mmrisk_dagster.settings import Settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"{variable}='{value}' is not .*choose one of"):
        Settings.from_env()


def test_the_text_backend_setting_reaches_the_encoder(monkeypatch, tmp_path):
    from mmrisk_dagster.definitions import build_resources
    from mmrisk_dagster.settings import Settings

    monkeypatch.setenv("MMRISK_HOME", str(tmp_path))
    monkeypatch.setenv("MMRISK_TEXT_BACKEND", "onnx-int8")
    assert build_resources(Settings.from_env())["compute"].encoder().name == "all-MiniLM-L6-v2+onnx-int8"
