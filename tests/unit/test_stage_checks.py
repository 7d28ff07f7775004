"""The Dagster checks between stages, invoked directly on small frames: each can fail, and
fails with the severity its kind of problem deserves."""

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.checks import asset_checks

DAY1, DAY2 = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")


def check(name: str):
    return next(c for c in asset_checks if any(k.to_user_string() == name for k in c.check_keys))


def test_rows_conserved_is_judged_per_partition():
    rows_conserved = check("prices:rows_conserved")
    raw = pd.DataFrame({"date": [DAY1, DAY1, DAY2]})
    balanced = rows_conserved(frame=raw.iloc[:2], raw=raw, rejected=pd.DataFrame({"source": ["prices"], "date": [DAY2]}))
    assert balanced.passed
    # Three rows in, three out, but a day-1 row was lost and a day-2 row counted twice.
    shifted = pd.DataFrame({"source": ["prices", "news"], "date": [DAY2, DAY1]})
    result = rows_conserved(frame=raw.iloc[[0, 2]], raw=raw, rejected=shifted)
    assert not result.passed and result.severity.value == "ERROR"
    assert set(result.metadata["unbalanced_partitions"].value) == {"2024-01-02", "2024-01-03"}


def _embedding(vectors) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"E{i}" for i in range(len(vectors))], "date": DAY1,
                         "vector": [np.asarray(v, dtype=np.float32) for v in vectors]})


def test_embedding_check_is_error_for_broken_vectors_and_warn_for_odd_norms():
    vectors_valid = check("news_embedding:vectors_valid")
    good = np.r_[np.eye(384)[0], 0.7]
    assert vectors_valid(_embedding([good, good])).passed
    broken = vectors_valid(_embedding([good, np.r_[good[:-1], np.nan]]))
    assert not broken.passed and broken.severity.value == "ERROR"
    short = vectors_valid(_embedding([good[:100], good[:100]]))
    assert not short.passed and short.severity.value == "ERROR" and short.metadata["expected_dimension"].value == 385
    odd = vectors_valid(_embedding([good, np.zeros(385)]))
    assert not odd.passed and odd.severity.value == "WARN" and odd.metadata["norm_out_of_range_rows"].value == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [("default_probability", 1.5), ("movement_probability", np.nan), ("predicted_volatility", -0.1),
     ("attention_news", 0.9)],
)
def test_scores_check_fails_on_each_kind_of_invalid_score(column, value):
    scores_valid = check("risk_scores:scores_valid")
    scores = pd.DataFrame({
        "entity_id": ["A", "B"], "date": DAY1, "default_probability": [0.1, 0.2], "movement_probability": [0.5, 0.6],
        "predicted_volatility": [0.2, 0.3], "attention_prices": [0.6, 0.5], "attention_news": [0.4, 0.5],
    })
    assert scores_valid(scores).passed
    scores.loc[0, column] = value
    result = scores_valid(scores)
    assert not result.passed and result.severity.value == "ERROR"
    duplicated = pd.concat([scores.iloc[[1]], scores.iloc[[1]]])
    assert not scores_valid(duplicated).passed
