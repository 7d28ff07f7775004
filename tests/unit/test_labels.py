import numpy as np
import pandas as pd

from mmrisk_dagster.ml.labels import build_labels, movement_label


def _prices(entity, closes, start="2024-01-01"):
    dates = pd.bdate_range(start, periods=len(closes))
    return pd.DataFrame({"entity_id": entity, "date": dates, "close": closes})


def test_default_label_marks_the_horizon_before_the_event_and_censors_the_tail():
    prices = pd.concat([_prices("a", np.full(30, 10.0)), _prices("b", np.full(30, 10.0))])
    event_day = pd.bdate_range("2024-01-01", periods=30)[15]
    events = pd.DataFrame({"entity_id": ["a"], "event_date": [event_day], "event_type": ["default"]})
    labels = build_labels(prices, events, None, horizon=5).set_index(["entity_id", "date"])
    a = labels.loc["a", "default"]
    days = a.index
    assert a[days[9]] == 0 and a[days[10]] == 1 and a[days[14]] == 1
    assert np.isnan(a[days[15]]), "on and after the default day there is nothing left to predict"
    b = labels.loc["b", "default"]
    assert b[days[24]] == 0 and np.isnan(b[days[25]]), "the last horizon is censored without an event"


def test_forward_volatility_uses_the_next_horizon_returns_only():
    closes = np.r_[np.full(10, 100.0), 100 * np.exp(np.cumsum(np.tile([0.02, -0.02], 5)))]
    labels = build_labels(_prices("a", closes), pd.DataFrame(columns=["entity_id", "event_date", "event_type"]), None, 4)
    vol = labels["log_forward_vol"].to_numpy()
    assert vol[0] < -10, "flat future: (near) zero volatility"
    assert abs(np.exp(vol[10]) - np.std([-0.02, 0.02, -0.02, 0.02], ddof=1)) < 1e-9
    assert np.isnan(vol[-1])


def test_movement_follows_stocknet_thresholds():
    moves = movement_label(pd.Series([0.01, 0.004, -0.004, -0.006, np.nan]))
    assert moves.iloc[0] == 1 and moves.iloc[3] == 0
    assert moves.iloc[1:3].isna().all() and np.isnan(moves.iloc[4])


def test_sentiment_is_the_majority_of_the_day_and_news_only_rows_keep_it():
    prices = _prices("a", np.full(5, 10.0))
    news = pd.DataFrame(
        {
            "entity_id": ["a", "a", "a", "z"],
            "date": [prices["date"][1]] * 3 + [prices["date"][2]],
            "sentiment_label": ["negative", "negative", "positive", "neutral"],
        }
    )
    labels = build_labels(prices, pd.DataFrame(columns=["entity_id", "event_date", "event_type"]), news, 2)
    indexed = labels.set_index(["entity_id", "date"])["sentiment"]
    assert indexed[("a", prices["date"][1])] == 0
    assert indexed[("z", prices["date"][2])] == 1
