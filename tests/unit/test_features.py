import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.ml.features import (
    CHART_HEIGHT,
    CHART_WIDTH,
    PRICE_FEATURES,
    PRICE_LOOKBACK,
    PRICE_SUMMARY,
    PRICE_WINDOW,
    RETURN_SCALE,
    chart_images,
    fundamentals_asof,
    price_vector_size,
    price_windows,
    render_charts,
    split_price_vectors,
    unpack_charts,
)
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE, MODALITIES, PanelSpec, assemble_panel
from mmrisk_dagster.ml.text import HashingEncoder, tone_axis
from mmrisk_dagster.ml.text_summary import AUTHOR_SUMMARY, TEXT_SUMMARY, aggregate_text
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns


def _perturb_after(frame, cut, rng, columns):
    out = frame.copy()
    later = out["date"] > cut
    for column in columns:
        out.loc[later, column] = out.loc[later, column] * rng.uniform(0.5, 2.0, later.sum())
    return out


ENCODER = HashingEncoder()
AXIS = tone_axis(ENCODER)


def _embeddings(clean, dates):
    # Vectors from the text itself, so that a changed text changes its vector, tone and summaries.
    news, social = clean["news"], clean["social"]
    return {
        "fundamentals": fundamentals_asof(
            clean["fundamentals"], dates, fundamental_feature_columns(clean["fundamentals"])
        ),
        "prices": price_windows(clean["prices"], dates),
        "chart": chart_images(clean["prices"], dates),
        "news": aggregate_text(news, ENCODER.encode(news["headline"].tolist()), AXIS, dates),
        "social": aggregate_text(social, ENCODER.encode(social["text"].tolist()), AXIS, dates, "author_id"),
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
    # Text after t is replaced wholesale, and more of it appears: the trailing tone and counts
    # of days <= t must not move.
    for table, column in (("news", "headline"), ("social", "text")):
        frame = small_clean[table].copy()
        frame.loc[frame["date"] > cut, column] = "shares plunge on bankruptcy fears"
        perturbed[table] = pd.concat([frame, frame[frame["date"] > cut]], ignore_index=True)
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
    assert windows["vector"].map(len).eq(price_vector_size(PRICE_WINDOW)).all()
    vectors = np.stack(windows["vector"])
    assert np.isfinite(vectors).all()
    assert set(windows["date"]) <= set(dates)
    window, summary = split_price_vectors(vectors)
    assert window.shape == (len(windows), PRICE_WINDOW, len(PRICE_FEATURES))
    assert summary.shape == (len(windows), len(PRICE_SUMMARY))


def _trending_prices(daily_log_returns: dict[str, float], days: int) -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-01", periods=days)
    frames = []
    for entity, step in daily_log_returns.items():
        close = 100 * np.exp(step * np.arange(days))
        frames.append(
            pd.DataFrame(
                {"entity_id": entity, "date": dates, "open": close, "high": close * 1.01, "low": close * 0.99}
            ).assign(close=close, volume=1000.0)
        )
    return pd.concat(frames, ignore_index=True)


def test_price_summaries_measure_horizons_drawdown_and_the_market():
    """One entity rising 1% a day, one falling 1%: known returns, drawdowns and market context."""
    prices = _trending_prices({"up": 0.01, "down": -0.01}, 100)
    last = prices["date"].max()
    windows = price_windows(prices, [last]).set_index("entity_id")
    summary = {
        e: dict(zip(PRICE_SUMMARY, split_price_vectors(np.stack(windows.loc[[e], "vector"]))[1][0]))
        for e in ("up", "down")
    }
    for h in (5, 20, 60):
        assert summary["up"][f"return_{h}d"] == pytest.approx(0.01 * RETURN_SCALE * np.sqrt(h), rel=1e-4)
        assert summary["up"][f"market_return_{h}d"] == pytest.approx(0.0, abs=1e-5)
        assert summary["up"][f"volatility_{h}d"] == pytest.approx(0.0, abs=1e-4)
    assert summary["up"]["excess_return_60d"] == pytest.approx(-summary["down"]["excess_return_60d"], rel=1e-4)
    assert summary["up"]["drawdown_60d"] == 0.0
    # The falling close is 59 steps under the highest close of the last 60 days.
    assert summary["down"]["drawdown_60d"] == pytest.approx(-0.59 * RETURN_SCALE / np.sqrt(60), rel=1e-4)
    assert summary["up"]["return_rank_60d"] > 0 > summary["down"]["return_rank_60d"]
    assert summary["up"]["history_share"] == 1.0


def test_price_vectors_from_the_asset_lookback_equal_full_history(small_clean):
    """The asset reads PRICE_LOOKBACK business days of prices: enough for every slow summary of an
    entity that traded every day (windows count trading rows, so a gap reaches further back)."""
    prices = small_clean["prices"]
    dates = pd.DatetimeIndex(sorted(prices["date"].unique()))
    target = dates[-1]
    recent = prices[prices["date"] >= target - pd.offsets.BDay(PRICE_LOOKBACK)]
    assert recent["date"].nunique() < len(dates), "the test needs history beyond the lookback"
    complete = recent.groupby("entity_id")["date"].nunique().loc[lambda n: n == PRICE_LOOKBACK + 1].index
    assert len(complete) >= 5
    full, partial = (
        price_windows(frame[frame["entity_id"].isin(complete)], [target]).sort_values("entity_id", ignore_index=True)
        for frame in (prices, recent)
    )
    assert full["entity_id"].tolist() == sorted(complete)
    np.testing.assert_allclose(np.stack(full["vector"]), np.stack(partial["vector"]), rtol=1e-5, atol=1e-5)


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


def test_of_two_filings_usable_the_same_day_the_later_period_counts():
    """A late filing for one quarter and the next quarter's, both public on one day, in either
    order in the source: the as-of join takes the later period's figures."""
    day = pd.Timestamp("2024-06-28")
    filings = pd.DataFrame(
        {
            "entity_id": ["a", "a", "b", "b"],
            "period_end": pd.to_datetime(["2024-03-31", "2023-12-31", "2023-12-31", "2024-03-31"]),
            "date": [day] * 4,
            "leverage": [1.0, 9.0, 9.0, 1.0],
        }
    )
    out = fundamentals_asof(filings, [day], ["leverage"])
    assert len(out) == 2
    assert out["vector"].map(lambda v: float(v[0])).nunique() == 1, "both entities read their Q1 filing (1.0)"


def test_text_aggregation_means_and_counts():
    docs = pd.DataFrame(
        {"entity_id": ["a", "a", "b"], "date": pd.to_datetime(["2024-01-02"] * 3), "author_id": ["x", "y", "x"]}
    )
    vectors = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    docs["text"] = ["up", "down", "flat"]
    out = aggregate_text(docs, vectors, np.array([1.0, -1.0]), author_column="author_id").set_index("entity_id")
    assert out.loc["a", "n_items"] == 2 and out.loc["a", "n_authors"] == 2
    np.testing.assert_allclose(out.loc["a", "vector"][:2], [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-5)
    summary = dict(zip(TEXT_SUMMARY + AUTHOR_SUMMARY, out.loc["a", "vector"][2:]))
    assert summary["tone"] == 0.0 and summary["log_count"] == np.float32(np.log1p(2))
    assert summary["top_author_share_20d"] == 0.5 and summary["repeated_share_20d"] == 0.0
    assert dict(zip(TEXT_SUMMARY, out.loc["b", "vector"][2:]))["tone"] == 0.0
    assert len(out.loc["b", "vector"]) == 2 + len(TEXT_SUMMARY) + len(AUTHOR_SUMMARY)
    assert len(aggregate_text(docs, vectors, np.array([1.0, -1.0]))["vector"][0]) == 2 + len(TEXT_SUMMARY)


def test_author_behaviour_sees_one_account_repeating_itself_in_a_burst():
    """Entity a: one post a day by different people for 30 business days, then on day 30 one
    account posts the same text five times. Entity b stays quiet and varied."""
    days = pd.bdate_range("2024-01-01", periods=31)
    calm = pd.DataFrame(
        {
            "entity_id": "a",
            "date": days[:30],
            "author_id": [f"u{i}" for i in range(30)],
            "text": [f"note {i}" for i in range(30)],
        }
    )
    bot = pd.DataFrame(
        {"entity_id": "a", "date": days[30], "author_id": "bot", "text": ["Buy   NOW"] * 4 + ["buy now"]}
    )
    other = pd.DataFrame({"entity_id": "b", "date": days[[25, 30]], "author_id": ["x", "y"], "text": ["p", "q"]})
    docs = pd.concat([calm, bot, other], ignore_index=True)
    vectors = np.ones((len(docs), 2), dtype=np.float32)
    out = aggregate_text(docs, vectors, np.array([1.0, 0.0]), dates=days[[29, 30]], author_column="author_id")
    rows = {
        (r.entity_id, r.date): dict(zip(AUTHOR_SUMMARY, r.vector[-len(AUTHOR_SUMMARY) :])) for r in out.itertuples()
    }
    before, during = rows[("a", days[29])], rows[("a", days[30])]
    # The last 20 business days up to day 29 hold 20 posts by 20 people, none repeated.
    assert before["log_authors_20d"] == np.float32(np.log1p(20)) and before["top_author_share_20d"] == np.float32(0.05)
    # The burst compares the day with the mean over 60 business days, days before any post as 0.
    assert before["repeated_share_20d"] == 0.0 and before["burst"] == np.float32(np.log1p(1) - np.log1p(29 / 60))
    # Day 30's window: 19 calm posts and the bot's 5, the same text once spacing and case are ignored.
    assert during["log_authors_20d"] == np.float32(np.log1p(20))
    assert during["top_author_share_20d"] == np.float32(5 / 24) and during["repeated_share_20d"] == np.float32(5 / 24)
    assert during["burst"] == np.float32(np.log1p(5) - np.log1p(30 / 60))
    assert rows[("b", days[30])]["top_author_share_20d"] == 0.5


def test_text_summaries_average_tone_and_count_items_over_trailing_business_days():
    """One entity with posts on days 0, 3 and 30 (business days): on day 30 the 5-day window holds
    that day alone, the 60-day window all three; rows are emitted for the asked dates only."""
    days = pd.bdate_range("2024-01-01", periods=31)
    docs = pd.DataFrame({"entity_id": "a", "date": days[[0, 3, 3, 30]]})
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)  # tones +1, -1, -1, +1
    out = aggregate_text(docs, vectors, np.array([1.0, -1.0]), dates=days[[3, 30]]).set_index("date")
    assert list(out.index) == [days[3], days[30]]
    day3, day30 = (dict(zip(TEXT_SUMMARY, out.loc[d, "vector"][2:])) for d in (days[3], days[30]))
    assert day3["tone"] == -1.0 and day3["log_count"] == np.float32(np.log1p(2))
    assert day3["tone_5d"] == np.float32(-1 / 3) and day3["log_count_5d"] == np.float32(np.log1p(3))
    assert day30["tone_5d"] == 1.0 and day30["log_count_5d"] == np.float32(np.log1p(1))
    assert day30["tone_20d"] == 1.0, "days 0 and 3 are more than 20 business days before day 30"
    assert day30["tone_60d"] == 0.0 and day30["log_count_60d"] == np.float32(np.log1p(4))
    assert len(out.loc[days[30], "vector"]) == 2 + len(TEXT_SUMMARY)


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
        panel = assemble_panel({"prices": prices, "news": news}, dates, PanelSpec(DEFAULT_MAX_AGE, policy)).set_index(
            "entity_id"
        )
        np.testing.assert_allclose(panel.loc["b", "news_vector"], expected)
        assert not panel.loc["b", "news_present"], "the mask always records what was observed"
        assert panel.loc["b", "missing_policy"] == policy


def test_a_panel_with_text_vectors_of_an_older_layout_is_refused_naming_the_fix():
    import pytest

    from mmrisk_dagster.ml.inputs import infer_dims

    dates = pd.bdate_range("2024-01-01", periods=3)
    old = pd.DataFrame({"entity_id": "a", "date": dates, "vector": [np.ones(385, np.float32)] * 3})
    panel = assemble_panel({"news": old}, dates, PanelSpec(DEFAULT_MAX_AGE))
    with pytest.raises(ValueError, match="news vectors have 385 values .* Re-materialize news_embedding"):
        infer_dims(panel)
    current = old.assign(vector=[np.ones(384 + len(TEXT_SUMMARY), np.float32)] * 3)
    assert infer_dims(assemble_panel({"news": current}, dates, PanelSpec(DEFAULT_MAX_AGE))) == {"news": 392}


def test_a_panel_with_price_vectors_of_an_older_layout_is_refused_naming_the_fix():
    from mmrisk_dagster.ml.inputs import infer_dims

    dates = pd.bdate_range("2024-01-01", periods=3)
    old = pd.DataFrame({"entity_id": "a", "date": dates, "vector": [np.ones(PRICE_WINDOW * len(PRICE_FEATURES), np.float32)] * 3})
    panel = assemble_panel({"prices": old}, dates, PanelSpec(DEFAULT_MAX_AGE))
    with pytest.raises(ValueError, match="prices vectors have 100 values.*Re-materialize price_sequence_embedding"):
        infer_dims(panel)
    current = old.assign(vector=[np.ones(price_vector_size(PRICE_WINDOW), np.float32)] * 3)
    dims = infer_dims(assemble_panel({"prices": current}, dates, PanelSpec(DEFAULT_MAX_AGE)))
    assert dims == {"prices": price_vector_size(PRICE_WINDOW)}


def test_fundamentals_vectors_of_two_widths_in_one_panel_are_refused_naming_the_fix():
    """A source that gained feature columns (partitions of 7 values beside newer ones of 14), or a
    model trained before scoring the wider vectors: stop with the fix, not a broadcasting error."""
    from mmrisk_dagster.ml.inputs import infer_dims, panel_arrays

    dates = pd.bdate_range("2024-01-01", periods=3)
    vectors = [np.ones(14, np.float32), np.ones(7, np.float32), np.ones(14, np.float32)]
    panel = assemble_panel(
        {"fundamentals": pd.DataFrame({"entity_id": "a", "date": dates, "vector": vectors})},
        dates,
        PanelSpec(DEFAULT_MAX_AGE),
    )
    dims = infer_dims(panel)
    with pytest.raises(ValueError, match="fundamentals vector has 7 values where 14.*Re-materialize the fundamentals"):
        panel_arrays(panel, dims)
    with pytest.raises(ValueError, match="fundamentals vector has 14 values where 7"):
        panel_arrays(panel, {"fundamentals": 7})
    same = panel.assign(fundamentals_vector=[np.ones(14, np.float32)] * 3)
    assert panel_arrays(same, dims).inputs["fundamentals"].shape == (3, 14)
