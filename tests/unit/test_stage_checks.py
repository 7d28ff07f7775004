"""The checks between stages, judged on small frames: each can fail, per partition, and fails
with the severity its kind of problem deserves."""

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.checks.invariants import inspect_vectors
from mmrisk_dagster.checks.stages import VECTOR_SPECS, score_validity, vector_result
from mmrisk_dagster.checks.tables import rows_conservation
from mmrisk_dagster.partitions import rows_by_partition

DAY1, DAY2 = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")
KEYS = ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_rows_conserved_is_judged_per_partition():
    raw = pd.DataFrame({"date": [DAY1, DAY1, DAY2]})
    balanced = rows_conservation("prices", raw.iloc[:2], raw, pd.DataFrame({"source": ["prices"], "date": [DAY2]}), KEYS)
    assert all(r.passed for r in balanced.values()) and list(balanced) == KEYS
    assert balanced["2024-01-03"].metadata["rows_quarantined"].value == 1
    # Three rows in, three out, but a day-1 row was lost and a day-2 row counted twice.
    shifted = pd.DataFrame({"source": ["prices", "news"], "date": [DAY2, DAY1]})
    result = rows_conservation("prices", raw.iloc[[0, 2]], raw, shifted, KEYS)
    assert {k for k, r in result.items() if not r.passed} == {"2024-01-02", "2024-01-03"}
    assert result["2024-01-02"].severity.value == "ERROR" and result["2024-01-04"].passed


def _embedding(vectors) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"E{i}" for i in range(len(vectors))], "date": DAY1,
                         "vector": [np.asarray(v, dtype=np.float32) for v in vectors]})


def vectors_valid(frame):
    return vector_result(inspect_vectors(frame, VECTOR_SPECS["news_embedding"]))


def test_embedding_check_is_error_for_broken_vectors_and_warn_for_odd_norms():
    good = np.r_[np.eye(384)[0], 0.7, 0.1, 0.0, 0.2, -0.1, 1.1, 2.3, 3.0]  # direction, then TEXT_SUMMARY
    assert vectors_valid(_embedding([good, good])).passed
    broken = vectors_valid(_embedding([good, np.r_[good[:-1], np.nan]]))
    assert not broken.passed and broken.severity.value == "ERROR"
    short = vectors_valid(_embedding([good[:100], good[:100]]))
    assert not short.passed and short.severity.value == "ERROR" and short.metadata["expected_dimension"].value == 392
    odd = vectors_valid(_embedding([good, np.zeros(392)]))
    assert not odd.passed and odd.severity.value == "WARN" and odd.metadata["norm_out_of_range_rows"].value == 1


def test_partitions_without_rows_are_judged_on_an_empty_frame():
    frame = _embedding([np.r_[np.eye(384)[0], 0.7, 0.1, 0.0, 0.2, -0.1, 1.1, 2.3, 3.0]])
    parts = rows_by_partition(frame, KEYS)
    assert [len(parts[k]) for k in KEYS] == [1, 0, 0]
    assert vectors_valid(parts["2024-01-03"]).passed


@pytest.mark.parametrize(
    ("column", "value"),
    [("default_probability", 1.5), ("movement_probability", np.nan), ("predicted_volatility", -0.1),
     ("attention_news", 0.9)],
)
def test_scores_check_fails_on_each_kind_of_invalid_score(column, value):
    scores = pd.DataFrame({
        "entity_id": ["A", "B"], "date": DAY1, "default_probability": [0.1, 0.2], "movement_probability": [0.5, 0.6],
        "predicted_volatility": [0.2, 0.3], "attention_prices": [0.6, 0.5], "attention_news": [0.4, 0.5],
    })
    assert score_validity(scores).passed
    scores.loc[0, column] = value
    result = score_validity(scores)
    assert not result.passed and result.severity.value == "ERROR"
    duplicated = pd.concat([scores.iloc[[1]], scores.iloc[[1]]])
    assert not score_validity(duplicated).passed
