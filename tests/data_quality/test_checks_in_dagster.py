"""The raw -> cleaning slice of the graph, materialized with its checks on `files` folders built
from the corpus: a file that breaks a critical expectation stops everything downstream of it,
and on every other bad-input case each cleaned table conserves its rows."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests import TEST_SALT
from mmrisk_dagster.assets.clean import CLEANED, cleaned_assets, quarantine
from mmrisk_dagster.assets.raw import raw_assets
from mmrisk_dagster.definitions import defs
from mmrisk_dagster.partitions import range_run_tags
from mmrisk_dagster.resources import DataSourceResource, WarehouseResource
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.resources.warehouse import ParquetWarehouse

CASES = Path(__file__).parent / "cases"
SLICE = [*raw_assets, *cleaned_assets, quarantine]
SLICE_KEYS = {key for asset in SLICE for key in asset.keys}
# The training-window preflight judges a history, not bad rows: tests/data_quality/test_preflight.py.
SLICE_CHECKS = [
    c for c in defs.asset_checks
    if {k.asset_key for k in c.check_keys} <= SLICE_KEYS and all(k.name != "training_window_fits" for k in c.check_keys)
]


def materialize_slice(folder: Path, home: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*SLICE, *SLICE_CHECKS],
        resources={
            "io_manager": WarehouseIOManager(root=str(home / "warehouse")),
            "warehouse": WarehouseResource(root=str(home / "warehouse"), models_root=str(home / "models")),
            "data_source": DataSourceResource(kind="files", path=str(folder), pseudonym_salt=TEST_SALT),
        },
        tags=range_run_tags("2024-01-01", "2024-01-10"),
        raise_on_error=False,
    )


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def test_a_file_failing_a_critical_expectation_blocks_everything_downstream(tmp_path):
    case = CASES / "prices_decimal_commas"
    blocked_by = json.loads((case / "expected.json").read_text())["blocked_by"]
    result = materialize_slice(case, tmp_path)
    assert not result.success
    check = evaluations(result)[blocked_by]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "expect_column_values_to_match_regex(open)" in check.metadata["failures"].value
    done = materialized(result)
    assert "raw_prices" in done and "news" in done  # upstream and unrelated assets ran
    assert "prices" not in done and "quarantine" not in done  # downstream of raw_prices did not


@pytest.fixture(scope="module")
def merged_corpus(tmp_path_factory) -> Path:
    """One folder holding every quarantine case's rows, table by table (the blocking case aside)."""
    folder = tmp_path_factory.mktemp("corpus")
    parts: dict[str, list[pd.DataFrame]] = {}
    for case in sorted(CASES.iterdir()):
        spec = json.loads((case / "expected.json").read_text())
        if spec["outcome"] != "quarantine" or "blocked_by" in spec:
            continue
        for file in case.glob("*.csv"):
            # The Python parser keeps NUL bytes (the C parser would cut the value there).
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig", engine="python")
            # Cases reuse doc and post ids; a case's id on another case's day is no duplicate delivery.
            for column in ("doc_id", "post_id"):
                if column in frame:
                    frame[column] = frame[column].where(frame[column].str.strip() == "", f"{case.name}:" + frame[column])
            parts.setdefault(file.stem, []).append(frame)
    for table, frames in parts.items():
        pd.concat(frames, ignore_index=True).to_csv(folder / f"{table}.csv", index=False)
    return folder


def test_rows_are_conserved_and_cleaned_tables_pass_their_suites_on_the_corpus(merged_corpus, tmp_path):
    result = materialize_slice(merged_corpus, tmp_path)
    assert result.success
    checks = evaluations(result)
    conserved = [e for e in result.get_asset_check_evaluations() if e.check_name == "rows_conserved"]
    failed = [(e.asset_key.to_user_string(), e.partition, e.description) for e in conserved if not e.passed]
    assert failed == []
    # One verdict per cleaned table and business day of the run (2024-01-01 .. 2024-01-10).
    assert len(conserved) == len(CLEANED) * 8 and {e.partition for e in conserved} >= {"2024-01-01", "2024-01-10"}
    for name in CLEANED:
        assert checks[f"{name}:expectations"].passed, checks[f"{name}:expectations"].metadata["failures"]
    assert checks["quarantine:expectations"].passed
    assert not [k for k, e in checks.items() if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    reasons = set(ParquetWarehouse(tmp_path / "warehouse").read("quarantine")["reason"])
    assert {"wrong_type", "null_key", "duplicate_key", "future_timestamp", "text_too_long", "empty_text"} <= reasons


def test_a_doc_delivered_on_two_days_is_found_across_runs(tmp_path):
    header = "doc_id,entity_id,published_at,headline,body,sentiment_label,date\n"
    first = "N1,A,2024-01-03T09:00:00Z,Acme wins a large contract,,,2024-01-03\n"
    again = "N1,A,2024-01-05T09:00:00Z,Acme wins a large contract,,,2024-01-05\n"
    (tmp_path / "news.csv").write_text(header + first)
    resources = {
        "io_manager": WarehouseIOManager(root=str(tmp_path / "warehouse")),
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse"), models_root=str(tmp_path / "models")),
        "data_source": DataSourceResource(kind="files", path=str(tmp_path), pseudonym_salt=TEST_SALT),
    }
    news_slice = [*raw_assets, *cleaned_assets, *[c for c in SLICE_CHECKS if "keys_unique" in str(c.check_keys)]]

    def run(day: str):
        result = dg.materialize(news_slice, selection=["raw_news", "news"], resources=resources, partition_key=day,
                                raise_on_error=False)
        return evaluations(result)["news:keys_unique_across_partitions"]

    assert run("2024-01-03").passed
    (tmp_path / "news.csv").write_text(header + first + again)
    found = run("2024-01-05")
    assert not found.passed and found.severity == dg.AssetCheckSeverity.ERROR
    assert found.metadata["examples"].value == [{"key": "N1", "first_day": "2024-01-03", "last_day": "2024-01-05"}]


def test_with_a_parquet_key_the_people_tables_are_written_encrypted(tmp_path, monkeypatch):
    from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption
    from mmrisk_dagster.resources.warehouse import WarehouseError

    monkeypatch.setenv("MMRISK_PARQUET_KEY", "pipeline-parquet-key-0123")
    key = dg.EnvVar("MMRISK_PARQUET_KEY")
    result = dg.materialize(
        [*raw_assets, *cleaned_assets], selection=["raw_social", "social", "social_rejected", "raw_prices"],
        resources={"io_manager": WarehouseIOManager(root=str(tmp_path / "warehouse"), parquet_key=key),
                   "data_source": DataSourceResource(kind="files", path=str(CASES / "control_character_in_post"),
                                                     pseudonym_salt=TEST_SALT)},
        partition_key="2024-01-02",
    )
    assert result.success
    with pytest.raises(WarehouseError, match="is encrypted"):
        ParquetWarehouse(tmp_path / "warehouse").read("raw_social")
    store = ParquetWarehouse(tmp_path / "warehouse", ParquetEncryption("pipeline-parquet-key-0123"))
    assert store.read("raw_social")["author_id"].tolist() == ["@ann", "@bob"]
    assert len(store.read("social")) == 1 and len(store.read("social_rejected")) == 1
    assert len(ParquetWarehouse(tmp_path / "warehouse").read("raw_prices")) == 0, "other tables stay plain"
