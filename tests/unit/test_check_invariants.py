"""What the later-stage checks measure (checks/invariants.py)."""

import numpy as np
import pandas as pd

from mmrisk_dagster.checks.invariants import VectorSpec, coverage_by_date, coverage_drops, inspect_vectors

UNIT_TEXT = VectorSpec("vector", 4, 1.0, 10.0)


def _vectors(rows: list) -> pd.DataFrame:
    return pd.DataFrame({
        "entity_id": [f"E{i}" for i in range(len(rows))],
        "date": pd.Timestamp("2024-01-02"),
        "vector": [np.asarray(r, dtype=np.float32) for r in rows],
    })


def test_valid_vectors_pass():
    report = inspect_vectors(_vectors([[1, 0, 0, 0.7], [0, 1, 0, 1.1]]), UNIT_TEXT)
    assert report.structurally_valid and report.norms_in_range
    assert report.dimensions == [4] and 1.2 < report.norm_min < report.norm_max < 1.5


def test_non_finite_wrong_dimension_and_duplicate_keys_are_structural_failures():
    assert inspect_vectors(_vectors([[1, 0, 0, np.nan], [0, 1, 0, 1]]), UNIT_TEXT).non_finite_rows == 1
    ragged = inspect_vectors(_vectors([[1, 0, 0, 1], [0, 1, 0]]), UNIT_TEXT)
    assert ragged.dimensions == [3, 4] and not ragged.structurally_valid
    assert not inspect_vectors(_vectors([[1, 0, 0], [0, 1, 0]]), UNIT_TEXT).structurally_valid  # expected 4
    frame = _vectors([[1, 0, 0, 1], [0, 1, 0, 1]]).assign(entity_id="E0")
    assert inspect_vectors(frame, UNIT_TEXT).duplicate_keys == 1


def test_norms_outside_the_construction_range_are_flagged_with_examples():
    report = inspect_vectors(_vectors([[0, 0, 0, 0], [1, 0, 0, 1], [30, 0, 0, 1]]), UNIT_TEXT)
    assert report.structurally_valid and not report.norms_in_range
    assert report.out_of_range_rows == 2 and [e["entity_id"] for e in report.examples] == ["E0", "E2"]
    scaled = inspect_vectors(_vectors([[3, 4]]), VectorSpec("vector", None, 0.0, None, norm_per_sqrt_dim=0.5))
    assert scaled.norm_bounds == (0.0, 0.5 * np.sqrt(2)) and scaled.out_of_range_rows == 1


def test_blank_charts_are_out_of_range():
    spec = VectorSpec("image", 2, 1e-6, 0.5)
    frame = pd.DataFrame({"entity_id": ["A", "B"], "date": pd.Timestamp("2024-01-02"),
                          "image": [bytes([0, 0]), bytes([0b1000_0001, 0])]})
    report = inspect_vectors(frame, spec)
    assert report.out_of_range_rows == 1 and report.norm_max == 2 / 16


def _panel(news_present_by_day: list[int], entities: int = 40) -> pd.DataFrame:
    days = pd.bdate_range("2024-01-01", periods=len(news_present_by_day))
    rows = []
    for day, present in zip(days, news_present_by_day, strict=True):
        for e in range(entities):
            rows.append({"entity_id": f"E{e}", "date": day, "prices_present": True, "news_present": e < present})
    return pd.DataFrame(rows)


def test_a_coverage_collapse_against_the_trailing_average_is_a_drop():
    panel = _panel([12] * 25 + [1])
    coverage, rows = coverage_by_date(panel, ["prices", "news"])
    drops = coverage_drops(coverage, rows, coverage.index[-3:])
    assert drops[["modality"]].to_dict("list") == {"modality": ["news"]}
    assert drops["date"].iloc[0] == coverage.index[-1] and drops["trailing_mean"].iloc[0] == 0.3


def test_noise_in_a_sparse_modality_is_not_a_drop():
    panel = _panel([3, 0, 4, 2, 0, 3, 5, 1, 0, 2, 4, 0, 3, 2], entities=12)  # expected ~2 of 12
    coverage, rows = coverage_by_date(panel, ["prices", "news"])
    assert coverage_drops(coverage, rows, coverage.index).empty


def test_dates_outside_the_run_are_not_judged():
    panel = _panel([12] * 10 + [0] + [12] * 10)
    coverage, rows = coverage_by_date(panel, ["news"])
    assert coverage_drops(coverage, rows, coverage.index[-5:]).empty
    assert len(coverage_drops(coverage, rows, coverage.index)) == 1
