"""The Great Expectations suites (mmrisk_dagster/checks/expectations/*.json) and the runner (checks/gx.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.checks import gx
from mmrisk_dagster.checks.tables import GX_ASSETS, expectation_result
from mmrisk_dagster.sources.cleaning import clean
from mmrisk_dagster.sources.contract import CONTRACTS
from mmrisk_dagster.sources.rejection import REASONS
from tests import TEST_SALT

CLEANED_NAME = {"fundamentals": "fundamentals", "prices": "prices", "news": "news", "social": "social",
                "events": "risk_events"}


@pytest.fixture(scope="module")
def tables(small_universe):
    """Raw, cleaned and quarantine tables of the small synthetic universe, by asset name."""
    out, rejected = {}, []
    for table, name in CLEANED_NAME.items():
        raw = small_universe.table(table)
        result = clean(table, raw, TEST_SALT)
        out[f"raw_{table}"], out[name] = raw, result.clean
        rejected.append(result.rejected)
    out["quarantine"] = pd.concat(rejected, ignore_index=True)
    return out


@pytest.fixture(scope="module")
def parameters(small_universe):
    dates = small_universe.prices["date"]
    return gx.range_parameters(dates.min(), dates.max())


def test_every_raw_cleaned_and_quarantine_asset_has_a_valid_suite():
    files = {p.stem for p in gx.EXPECTATIONS_DIR.glob("*.json")}
    assert set(GX_ASSETS) == files
    for name in GX_ASSETS:
        spec = gx.load_suite(name)
        suite = gx.build_suite(spec)
        assert len(suite.expectations) == len(spec["expectations"])
        assert any(e["severity"] == "critical" for e in spec["expectations"]), name
        assert all(e.get("meta", {}).get("why") for e in spec["expectations"]), f"{name}: say why"


def test_quarantine_suite_knows_every_reason_and_source():
    expectations = gx.load_suite("quarantine")["expectations"]
    value_sets = {e["kwargs"]["column"]: set(e["kwargs"]["value_set"]) for e in expectations if "value_set" in e["kwargs"]}
    assert value_sets == {"reason": set(REASONS), "source": set(CONTRACTS)}


def test_every_suite_holds_on_the_synthetic_universe(tables, parameters):
    for name in GX_ASSETS:
        outcome = gx.validate(tables[name], name, parameters)
        assert outcome.passed, (name, gx.summary(outcome)["failures"])
        assert outcome.rows == len(tables[name]) and len(outcome.results) >= 6


def test_broken_keys_and_ranges_fail_critical_with_examples(tables, parameters):
    prices = tables["prices"].copy()
    prices = pd.concat([prices, prices.iloc[[0]]], ignore_index=True)  # a duplicate key
    prices.loc[5, ["low", "open"]] = -1.0  # a negative price
    outcome = gx.validate(prices, "prices", parameters)
    failed = {r.name: r for r in outcome.critical_failures}
    assert "expect_compound_columns_to_be_unique(entity_id,date)" in failed
    assert "expect_column_values_to_be_between(low)" in failed
    duplicate = failed["expect_compound_columns_to_be_unique(entity_id,date)"]
    assert duplicate.unexpected_count == 2 and prices.at[0, "entity_id"] in duplicate.examples[0]
    result = expectation_result(outcome)
    assert not result.passed and result.severity.value == "ERROR"
    assert result.metadata["critical_failed"].value >= 2
    assert "FAILED" in result.metadata["results"].value


def test_a_column_of_the_wrong_type_is_critical_and_a_few_bad_values_only_warn(tables, parameters):
    raw = tables["raw_prices"].copy()
    raw["close"] = raw["close"].astype(str).str.replace(".", ",", regex=False)  # decimal commas
    outcome = gx.validate(raw, "raw_prices", parameters)
    assert [r.name for r in outcome.critical_failures] == ["expect_column_values_to_match_regex(close)"]

    raw = tables["raw_prices"].copy().astype({"close": object})
    raw.loc[raw.index[:20], "close"] = "n.a."  # about 1% of the rows
    outcome = gx.validate(raw, "raw_prices", parameters)
    assert outcome.failures and not outcome.critical_failures
    assert expectation_result(outcome).severity.value == "WARN"
    warning = outcome.failures[0]
    assert warning.unexpected_count == 20 and 0 < warning.unexpected_percent < 5 and "n.a." in warning.examples[0]


def test_stale_data_is_a_freshness_warning(tables, parameters):
    raw = tables["raw_prices"]
    outcome = gx.validate(raw[raw["date"] < raw["date"].max()], "raw_prices", parameters)
    assert [r.name for r in outcome.failures] == ["expect_column_max_to_be_between(date)"]
    assert outcome.failures[0].severity == "warning"


def test_a_missing_column_fails_with_a_readable_error(tables, parameters):
    outcome = gx.validate(tables["social"].drop(columns=["author_id"]), "social", parameters)
    failed = {r.name: r for r in outcome.critical_failures}
    assert "expect_table_columns_to_match_set()" in failed
    assert "does not exist" in failed["expect_column_values_to_match_regex(author_id)"].error


def test_empty_tables_validate(tables, parameters):
    outcome = gx.validate(tables["news"].iloc[:0], "news", parameters)
    assert outcome.passed and outcome.rows == 0


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        ({"type": "expect_column_to_exsist", "kwargs": {"column": "a"}, "severity": "critical"}, "is invalid"),
        ({"type": "expect_column_to_exist", "kwargs": {"colum": "a"}, "severity": "critical"}, "is invalid"),
        ({"type": "expect_column_to_exist", "kwargs": {"column": "a"}}, "needs a severity"),
    ],
)
def test_a_broken_suite_file_is_refused_not_skipped(tmp_path, expectation, message):
    (tmp_path / "broken.json").write_text(json.dumps({"name": "broken", "expectations": [expectation]}))
    with pytest.raises(gx.SuiteError, match=message):
        gx.validate(pd.DataFrame({"a": [1]}), "broken", {}, directory=tmp_path)


def test_validation_writes_no_files(tmp_path, monkeypatch, tables, parameters):
    monkeypatch.chdir(tmp_path)
    gx.validate(tables["risk_events"], "risk_events", parameters)
    assert list(tmp_path.iterdir()) == []


def test_range_parameters_cover_the_run():
    p = gx.range_parameters(pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-08"))
    assert p["range_end"] == pd.Timestamp("2024-03-08") and str(p["range_start_utc"].tz) == "UTC"
    assert p["week_before_start_utc"] == pd.Timestamp("2024-02-26", tz="UTC")
    assert np.all([isinstance(v, pd.Timestamp) for v in p.values()])
