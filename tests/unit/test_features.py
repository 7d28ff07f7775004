import numpy as np
import pandas as pd

from mmrisk_dagster.ml.features import (
    CHART_HEIGHT,
    CHART_WIDTH,
    PRICE_FEATURES,
    PRICE_WINDOW,
    aggregate_text,
    chart_images,
    fundamentals_asof,
    price_windows,
    render_charts,
    unpack_charts,
)
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE, MODALITIES, PanelSpec, assemble_panel
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns


def _perturb_after(frame, cut, rng, columns):
    out = frame.copy()
    later = out["date"] > cut
    for column in columns:
        out.loc[later, column] = out.loc[later, column] * rng.uniform(0.5, 2.0, later.sum())
    return out


def _embeddings(clean, dates):
    texts = clean["news"]
    news_vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
    social = clean["social"]
    social_vectors = np.random.default_rng(1).normal(size=(len(social), 8)).astype(np.float32)
    return {
        "fundamentals": fundamentals_asof(clean["fundamentals"], dates, fundamental_feature_columns(clean["fundamentals"])),
        "prices": price_windows(clean["prices"], dates),
        "chart": chart_images(clean["prices"], dates),
        "news": aggregate_text(texts, news_vectors),
        "social": aggregate_text(social, social_vectors, "author_id"),
    }


def test_features_at_t_ignore_any_change_after_t(small_clean):
    """Perturb every price and filing after t: nothing dated <= t may change."""
    dates = pd.DatetimeIndex(sorted(small_clean["prices"]["date"].unique()))
    cut = dates[len(dates) // 2]
    rng = np.random.default_rng(42)
    perturbed = dict(small_clean)
    perturbed["prices"] = _perturb_after(small_clean["prices"], cut, rng, ["open", "high", "low", "close", "volume"])
    filings = small_clean["fundamentals"]
    perturbed["fundamentals"] = _perturb_after(filings, cut, rng, fundamental_feature_columns(filings))
    # Text after t is replaced wholesale (vectors are drawn per row, so keep row counts).
    for table, column in (("news", "headline"), ("social", "text")):
        frame = small_clean[table].copy()
        frame.loc[frame["date"] > cut, column] = "completely different text"
        perturbed[table] = frame
    upto = dates[dates <= cut]
    original = assemble_panel(_embeddings(small_clean, upto), upto, PanelSpec(DEFAULT_MAX_AGE))
    changed = assemble_panel(_embeddings(perturbed, upto), upto, PanelSpec(DEFAULT_MAX_AGE))
    full = assemble_panel(_embeddings(perturbed, dates), dates, PanelSpec(DEFAULT_MAX_AGE))
    full = full[full["date"] <= cut].reset_index(drop=True)
    for other in (changed, full):
        assert len(other) == len(original)
        for column in original.columns:
            left, right = original[column].tolist(), other[column].tolist()
            for a, b in zip(left, right):
                if isinstance(a, np.ndarray | bytes):
                    assert np.array_equal(np.asarray(a), np.asarray(b)) if isinstance(a, np.ndarray) else a == b
                else:
                    assert a == b or (pd.isna(a) and pd.isna(b)), column


def test_price_windows_have_the_documented_shape(small_clean):
    dates = pd.DatetimeIndex(sorted(small_clean["prices"]["date"].unique()))[-5:]
    windows = price_windows(small_clean["prices"], dates)
    assert len(windows) > 0
    assert windows["vector"].map(len).eq(PRICE_WINDOW * len(PRICE_FEATURES)).all()
    assert np.isfinite(np.stack(windows["vector"])).all()
    assert set(windows["date"]) <= set(dates)


def test_days_before_the_first_full_window_give_empty_embeddings(small_clean):
    """A daily run early in the history (fewer trading days than the window) writes no rows."""
    dates = pd.DatetimeIndex(sorted(small_clean["prices"]["date"].unique()))[: PRICE_WINDOW - 1]
    prices = small_clean["prices"][small_clean["prices"]["date"].isin(dates)]
    assert len(prices) > 0
    assert len(price_windows(prices, dates)) == 0
    assert len(chart_images(prices, dates)) == 0


def test_chart_pixels_encode_open_close_and_bar():
    # A rising window: each day's close above its open, range bounded by high/low.
    days = np.arange(PRICE_WINDOW, dtype=float)
    ohlcv = np.stack([10 + days, 11.5 + days, 9.5 + days, 11 + days, np.full(PRICE_WINDOW, 100.0)], axis=1)[None]
    image = unpack_charts(render_charts(ohlcv, ohlcv[:, :, 3]))[0, 0]
    assert image.shape == (CHART_HEIGHT, CHART_WIDTH)
    assert set(np.unique(image)) <= {0.0, 1.0}
    first_open_row = np.flatnonzero(image[:51, 0])
    last_close_row = np.flatnonzero(image[:51, CHART_WIDTH - 1])
    assert first_open_row.size == 1 and last_close_row.size == 1
    assert last_close_row[0] < first_open_row[0], "later higher prices sit higher in the image"
    assert image[51:, 1::3].sum() > 0, "volume pane has bars"


def test_fundamentals_use_only_filings_already_public(small_clean):
    filings = small_clean["fundamentals"]
    features = fundamental_feature_columns(filings)
    first_public = filings["date"].min()
    day_before = pd.DatetimeIndex([first_public - pd.offsets.BDay(1)])
    assert fundamentals_asof(filings, day_before, features).empty
    on_day = fundamentals_asof(filings, pd.DatetimeIndex([first_public]), features)
    assert (on_day["age_days"] == 0).all() and len(on_day) >= 1


def test_text_aggregation_means_and_counts():
    docs = pd.DataFrame(
        {"entity_id": ["a", "a", "b"], "date": pd.to_datetime(["2024-01-02"] * 3), "author_id": ["x", "y", "x"]}
    )
    vectors = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    out = aggregate_text(docs, vectors, "author_id").set_index("entity_id")
    assert out.loc["a", "n_items"] == 2 and out.loc["a", "n_authors"] == 2
    np.testing.assert_allclose(out.loc["a", "vector"][:2], [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-5)
    assert out.loc["b", "vector"][-1] == np.float32(np.log1p(1))


def test_panel_carries_sparse_modalities_forward_with_their_age():
    dates = pd.bdate_range("2024-01-01", "2024-01-12")
    prices = pd.DataFrame({"entity_id": "a", "date": dates, "vector": [np.ones(3, np.float32)] * len(dates)})
    news = pd.DataFrame({"entity_id": ["a"], "date": [dates[1]], "vector": [np.full(2, 5, np.float32)]})
    panel = assemble_panel({"prices": prices, "news": news}, dates, PanelSpec({**DEFAULT_MAX_AGE, "news": 3}))
    present = panel.set_index("date")["news_present"]
    ages = panel.set_index("date")["news_age"]
    assert not present[dates[0]]
    assert present[dates[1]] and ages[dates[1]] == 0
    assert present[dates[4]] and ages[dates[4]] == 3
    assert not present[dates[5]], "older than the maximum age counts as missing"
    assert panel["fundamentals_present"].eq(False).all()
    assert set(MODALITIES) == {c.removesuffix("_present") for c in panel.columns if c.endswith("_present")}


def test_missing_policies_fill_absent_vectors():
    dates = pd.bdate_range("2024-01-01", "2024-01-01")
    prices = pd.DataFrame({"entity_id": ["a", "b"], "date": [dates[0]] * 2, "vector": [np.ones(2, np.float32)] * 2})
    news = pd.DataFrame({"entity_id": ["a"], "date": [dates[0]], "vector": [np.array([2.0, 4.0], np.float32)]})
    for policy, expected in (("mask", [0, 0]), ("zero", [0, 0]), ("mean", [2, 4])):
        panel = assemble_panel({"prices": prices, "news": news}, dates, PanelSpec(DEFAULT_MAX_AGE, policy)).set_index("entity_id")
        np.testing.assert_allclose(panel.loc["b", "news_vector"], expected)
        assert not panel.loc["b", "news_present"], "the mask always records what was observed"
        assert panel.loc["b", "missing_policy"] == policy
