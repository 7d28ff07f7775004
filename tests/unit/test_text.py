import numpy as np

from mmrisk_dagster.ml.text import EmbeddingCache, HashingEncoder, MiniLMEncoder, encode_texts, text_key


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
