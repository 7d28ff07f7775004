import pandas as pd
import pytest

from mmrisk_dagster.ml.rules import mine_rules, one_hot_items


def test_support_confidence_and_lift_match_hand_counts():
    signals = pd.DataFrame({"tone": ["neg", "neg", "neg", "pos", "pos", "pos", "neg", "pos"],
                            "vol": ["high", "high", "low", "low", "low", "high", "high", "low"]})
    outcomes = pd.DataFrame({"default": [1, 1, 0, 0, 0, 0, 1, 0]}).astype(bool)
    rules = mine_rules(one_hot_items(signals), outcomes, min_support=0.1).set_index("antecedent")
    both = rules.loc["tone=neg & vol=high"]
    assert both["support"] == pytest.approx(3 / 8)
    assert both["confidence"] == pytest.approx(1.0)
    assert both["lift"] == pytest.approx(1.0 / (3 / 8))
    single = rules.loc["tone=neg"]
    assert single["confidence"] == pytest.approx(3 / 4)
    assert not any("tone=neg & tone=pos" in a for a in rules.index), "one level per signal in a rule"


def test_counts_are_exact_integers_for_fractions_that_do_not_round_trip():
    # 29 of 100 rows hold the item and the outcome: int(0.29 * 100) would give 28.
    hits = [True] * 29 + [False] * 71
    rules = mine_rules(pd.DataFrame({"signal=on": hits}), pd.DataFrame({"default": hits}), min_support=0.01)
    assert rules.at[0, "count"] == 29 and rules.at[0, "support"] == pytest.approx(0.29)
