"""Materialize the whole graph in-process on a small universe and check what it produced.

The run holds a pseudonymization salt in `MMRISK_PSEUDONYM_SALT`, so the same graph also shows
that neither the salt nor a raw author handle reaches any storage the instance or MLflow keeps.
"""

import sqlite3
import zlib
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.definitions import defs
from mmrisk_dagster.instance import dagster_yaml
from mmrisk_dagster.ml.panel import MODALITIES
from mmrisk_dagster.partitions import daily_partitions, range_run_tags
from mmrisk_dagster.resources import (
    ComputeResource,
    DataSourceResource,
    TrainingWindowResource,
    WarehouseResource,
)
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.resources.tracking import MlflowResource
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE

SECRET_SALT = "graph-test-secret-7f3a9c2e51d84b06"
RAW_HANDLE_PREFIX = "@trader"  # every synthetic author handle starts so; pseudonyms never do

FIRST, LAST = "2024-01-01", "2024-09-30"
FAST_RUN_CONFIG = {
    "ops": {
        "shared_space": {"config": {"epochs": 1}},
        "multitask_model": {"config": {"seeds": [0, 1], "epochs": 3}},
        "model_evaluation": {"config": {"baseline_seeds": [0], "single_modality_seeds": [0], "gate_tolerance": 1.0}},
    },
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}


def small_resources(home) -> dict:
    return {
        "io_manager": WarehouseIOManager(root=str(home / "warehouse")),
        "warehouse": WarehouseResource(root=str(home / "warehouse"), models_root=str(home / "models")),
        "data_source": DataSourceResource(
            synthetic_entities=12, synthetic_seed=5, start_date=FIRST, end_date=LAST,
            pseudonym_salt=dg.EnvVar(SALT_VARIABLE),
        ),
        "compute": ComputeResource(cache_dir=str(home / "cache")),
        "training_window": TrainingWindowResource(horizon_days=10),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=str(home / "mlartifacts")),
    }


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    home = tmp_path_factory.mktemp("mmrisk_home")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(dagster_yaml(dagster_home))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
        patch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
        patch.setenv(SALT_VARIABLE, SECRET_SALT)
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        resources = small_resources(home)
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            resources=resources,
            instance=instance,
            tags=range_run_tags(FIRST, LAST),
            run_config=FAST_RUN_CONFIG,
        )
        yield {"result": result, "store": ParquetWarehouse(home / "warehouse"), "home": home, "instance": instance, "resources": resources}


def test_every_asset_and_check_succeeds(graph):
    result = graph["result"]
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_check_key for e in evaluations} == set(defs.resolve_asset_graph().asset_check_keys)
    failed = [e.check_name for e in evaluations if not e.passed]
    assert failed == [], failed


def test_each_partition_records_its_own_row_count(graph):
    """A range run's output metadata would land on every day alike: each day must show its own rows."""
    instance, store = graph["instance"], graph["store"]
    days = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST))
    for spec in defs.resolve_all_asset_specs():
        if spec.partitions_def is None:
            continue
        table = spec.key.to_user_string()
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=spec.key), limit=10 * len(days)).records
        recorded = {}
        for record in records:  # newest first: keep each partition's latest
            recorded.setdefault(record.partition_key, record.asset_materialization.metadata["dagster/row_count"].value)
        stored = store.read(table).groupby("date").size()
        stored.index = pd.to_datetime(stored.index).strftime("%Y-%m-%d")
        assert recorded == {day: int(stored.get(day, 0)) for day in days}, table


def test_each_partition_of_a_checked_asset_shows_its_checks_passed(graph):
    instance = graph["instance"]
    days = set(daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(FIRST, LAST)))
    keys = [spec.key for checks in defs.asset_checks for spec in checks.check_specs if spec.partitions_def is not None]
    assert len(keys) >= 20
    statuses = instance.event_log_storage.get_asset_check_partition_info(keys)
    assert len(statuses) == len(keys) * len(days)
    for info in statuses:
        assert info.partition_key in days and info.latest_execution_status.value == "SUCCEEDED", info


def test_the_declared_columns_are_the_columns_written(graph):
    store, instance = graph["store"], graph["instance"]
    for spec in defs.resolve_all_asset_specs():
        declared = spec.metadata.get("dagster/column_schema")
        if declared is None:
            continue
        table = spec.key.to_user_string()
        written = store.read(table).dtypes
        undeclared = set(written.index) - {c.name for c in declared.columns}
        if table in ("raw_fundamentals", "fundamentals"):  # the contract allows the source's numeric features
            undeclared = {c for c in undeclared if written[c].kind != "f"}
        assert undeclared == set(), table
    record = instance.fetch_materializations(dg.AssetKey("risk_scores"), limit=1).records[0]
    recorded = record.asset_materialization.metadata["dagster/column_schema"].schema
    assert all(c.description and c.type for c in recorded.columns)


def test_the_latest_materialization_of_every_table_shows_its_columns(graph):
    """What the UI's Columns tab reads: recorded once per run, on the run's last partition."""
    store, instance = graph["store"], graph["instance"]
    for key in instance.get_asset_keys():
        table = key.to_user_string()
        if store.has_document(table):
            continue
        record = instance.fetch_materializations(key, limit=1).records[0]
        recorded = record.asset_materialization.metadata["dagster/column_schema"].schema
        assert [c.name for c in recorded.columns] == list(store.read(table).columns), table
        assert all(c.type for c in recorded.columns), table
        if record.partition_key is not None:
            assert record.partition_key == LAST, table
            earlier = instance.fetch_materializations(key, limit=2).records[1]
            assert "dagster/column_schema" not in earlier.asset_materialization.metadata, table


def test_rows_are_conserved_through_cleaning(graph):
    store = graph["store"]
    quarantine = store.read("quarantine")
    for cleaned, raw in [("prices", "raw_prices"), ("news", "raw_news"), ("social", "raw_social"),
                         ("fundamentals", "raw_fundamentals"), ("risk_events", "raw_events")]:
        source = raw.removeprefix("raw_")
        assert len(store.read(raw)) == len(store.read(cleaned)) + int((quarantine["source"] == source).sum())
    assert len(quarantine) > 0


def test_keys_unique_and_counts_consistent_between_stages(graph):
    store = graph["store"]
    panel = store.read("modality_panel")
    shared = store.read("shared_embeddings")
    scores = store.read("risk_scores")
    for frame in (panel, shared, scores):
        assert not frame.duplicated(["entity_id", "date"]).any()
    assert len(panel) == len(shared) == len(scores) > 0
    assert set(map(tuple, panel[["entity_id", "date"]].to_numpy())) == set(map(tuple, scores[["entity_id", "date"]].to_numpy()))
    prices = store.read("prices")
    assert panel["prices_present"].sum() == len(store.read("price_sequence_embedding"))
    assert panel["prices_present"].sum() <= len(prices)
    assert scores["date"].between(pd.Timestamp(FIRST), pd.Timestamp(LAST)).all()
    coverage = {m: panel[f"{m}_present"].mean() for m in MODALITIES}
    assert all(0 < c <= 1 for c in coverage.values()), coverage


def test_scores_are_probabilities_with_attention_summing_to_one(graph):
    scores = graph["store"].read("risk_scores")
    for column in ("default_probability", "movement_probability"):
        assert scores[column].between(0, 1).all()
    attention = scores.filter(like="attention_").to_numpy()
    np.testing.assert_allclose(attention.sum(axis=1), 1, atol=1e-5)
    assert (scores["predicted_volatility"] > 0).all()
    assert scores["default_probability"].nunique() > 1, "scores vary across entity-dates"
    assert set(scores["top_modality"]) <= set(MODALITIES)
    contributions = scores.filter(like="default_logit_")
    assert set(contributions.columns) == {f"default_logit_{m}" for m in MODALITIES if m != "chart"}
    drivers = scores["top_default_driver"]
    assert set(drivers.dropna()) <= set(MODALITIES) and drivers.notna().any()
    assert (contributions.max(axis=1)[drivers.isna()] <= 0).all()
    alerts = graph["store"].read("risk_alerts")
    assert len(alerts) > 0
    assert ((alerts["percentile"] >= 0.98) | (alerts["default_probability"] >= 0.2)).all()
    assert {"top_default_driver", "top_modality"} <= set(alerts.columns)


def test_model_is_tracked_and_registered_in_mlflow(graph):
    import mlflow

    card = graph["store"].read_json("multitask_model")
    mlflow.set_tracking_uri(f"sqlite:///{graph['home'] / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    run = client.get_run(card["mlflow"]["run_id"])
    assert run.data.tags["model_version"] == card["version"]
    assert run.data.tags["dagster_run_id"] == graph["result"].run_id
    assert "member0_train_loss" in run.data.metrics
    version = client.get_model_version(card["mlflow"]["registered_model"], card["mlflow"]["model_version"])
    assert version.run_id == run.info.run_id
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/model_evaluation.json" in artifacts
    # A pyfunc model with a signature; both aliases on the version that passed its gate, whose
    # verdict and margin are its tags; risk_scores scored with that champion.
    name = card["mlflow"]["registered_model"]
    info = mlflow.models.get_model_info(card["mlflow"]["model_uri"])
    assert "python_function" in info.flavors and info.signature is not None
    for alias in ("challenger", "champion"):
        assert client.get_model_version_by_alias(name, alias).version == version.version
    report = graph["store"].read_json("model_evaluation")
    assert version.tags["gate_passed"] == "True" and float(version.tags["gate_margin"]) == report["gate"]["margin"]
    assert report["registry"]["champion"] == version.version
    scores = graph["store"].read("risk_scores")
    assert set(scores["model_version"]) == {card["version"]}


def test_model_pages_show_their_pictures_and_mlflow_keeps_them(graph):
    import base64
    import re

    import mlflow

    instance = graph["instance"]
    embedded = {}
    for asset, entry in (("model_evaluation", "plots"), ("multitask_model", "training_curves")):
        record = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0]
        text = record.asset_materialization.metadata[entry].value
        embedded[asset] = re.findall(r"!\[([^\]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    titles = [title for title, _ in embedded["model_evaluation"]]
    # ROC and reliability for each binary task with test labels, scores, attention, coverage, shared space.
    assert len(titles) >= 5 and any("ROC" in t for t in titles) and any("Shared space" in t for t in titles), titles
    for _, data in embedded["model_evaluation"] + embedded["multitask_model"]:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG") and len(png) < 150_000
    card = graph["store"].read_json("multitask_model")
    mlflow.set_tracking_uri(f"sqlite:///{graph['home'] / 'mlflow.db'}")
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(card["mlflow"]["run_id"], "plots")}
    assert len(logged) == len(titles) + 1 and all(path.endswith(".png") for path in logged)


def test_evaluation_compares_against_baselines_and_ablations(graph):
    report = graph["store"].read_json("model_evaluation")
    task = report["primary_task"]
    assert task in ("default", "movement")
    assert set(report["baselines"]) == {"hist_gbm", "tfidf_logreg", "linear_svm"}
    assert set(report["ablation"]["removed"]) == set(MODALITIES)
    assert report["model_version"] == graph["store"].read_json("multitask_model")["version"]
    assert "| fused model" in report["markdown"]
    gate = report["gate"]
    assert gate["split"] == "gate" and gate["margin_ci_low"] <= gate["margin"] <= gate["margin_ci_high"]
    assert report["test_comparison"]["reference"] == "fused"
    backtest = report["var_backtest"]
    # Nine months hold too few training returns for a GARCH fit: it is named, not silently dropped.
    assert set(backtest["methods"]) | set(backtest["unavailable"]) == {"model", "historical_20d", "garch_1_1"}
    assert {"model", "historical_20d"} <= set(backtest["methods"]) and backtest["rows"] > 0
    for method in backtest["methods"].values():
        assert set(method) == {"0.95", "0.99"}
        assert 0 <= method["0.99"]["kupiec"]["p_value"] <= 1


def test_scores_carry_value_at_risk_from_the_predicted_volatility(graph):
    """The VaR multipliers are fitted on validation at training; scoring and the backtest use the same."""
    scores = graph["store"].read("risk_scores")
    card = graph["store"].read_json("multitask_model")
    multipliers = card["var_multipliers"]
    for level in ("0.95", "0.99"):
        fitted = multipliers[level]
        assert fitted["method"] in {"empirical", "normal"} and fitted["rows"] > 0
        column = f"var_{level[2:]}"
        np.testing.assert_allclose(scores[column], fitted["multiplier"] * scores["predicted_volatility"], rtol=1e-5)
        backtested = graph["store"].read_json("model_evaluation")["var_backtest"]["methods"]["model"][level]
        assert backtested["multiplier"]["multiplier"] == pytest.approx(fitted["multiplier"], rel=1e-5)
    assert (scores["var_99"] > scores["var_95"]).all() and (scores["var_95"] > 0).all()


def test_rerunning_a_partition_replaces_it_exactly(graph):
    store = graph["store"]
    day = "2024-05-15"
    before = {t: len(store.read(t, [day])) for t in ("raw_prices", "prices", "quarantine")}
    result = dg.materialize(
        [*defs.assets],
        selection=["raw_prices", "prices", "prices_rejected", "quarantine"],
        resources=graph["resources"],
        instance=graph["instance"],
        partition_key=day,
    )
    assert result.success
    after = {t: len(store.read(t, [day])) for t in before}
    assert after == before and before["raw_prices"] > 0


def test_a_failing_model_gate_blocks_scoring(graph):
    """An impossible gate (beat the best baseline by a full AUC point) must stop risk_scores."""
    store = graph["store"]
    scored_before = len(store.read("risk_scores"))
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=["model_evaluation", "risk_scores"],
        resources=graph["resources"],
        instance=graph["instance"],
        tags=range_run_tags(FIRST, LAST),
        run_config={"ops": {"model_evaluation": {"config": {"baseline_seeds": [0], "single_modality_seeds": [], "gate_tolerance": -1.0}}}},
        raise_on_error=False,
    )
    assert not result.success
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name == "model_gate"]
    assert len(gate) == 1 and not gate[0].passed
    assert "risk_scores" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert store.read_json("model_evaluation")["gate"]["passed"] is False
    # Scoring later, outside that run, is refused too: the asset reads the failed verdict.
    later = dg.materialize(
        [*defs.assets], selection=["risk_scores"], resources=graph["resources"], instance=graph["instance"],
        partition_key="2024-09-30", raise_on_error=False,
    )
    assert not later.success
    assert len(store.read("risk_scores")) == scored_before


def _sqlite_texts(path: Path):
    """Every text and blob cell of a SQLite file; zlib blobs (Dagster's snapshots) decompressed."""
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        try:
                            cell = zlib.decompress(cell)
                        except zlib.error:
                            pass
                        yield cell.decode(errors="replace")
                    elif isinstance(cell, str):
                        yield cell


def _duckdb_texts(path: Path):
    with duckdb.connect(str(path), read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall():
            yield con.execute(f'SELECT * FROM "{table}"').df().to_csv()


def stored_texts(home: Path, skip_raw_tables: bool):
    """(file, text) for everything the data home holds: the Dagster instance's run, event-log and
    schedule storage (snapshots included), MLflow's store and artifacts, the text cache, the
    DuckDB catalog and every warehouse table read back as text (Parquet pages are compressed, so
    their bytes prove nothing). `skip_raw_tables` leaves out the raw_* tables: the source's copy."""
    for path in sorted(p for p in home.rglob("*") if p.is_file() and not p.name.endswith(".lock")):
        if path.suffix == ".parquet":
            table = path.relative_to(home / "warehouse").parts[0]
            if not (skip_raw_tables and table.startswith("raw_")):
                yield path, pd.read_parquet(path).to_csv()
        elif path.suffix == ".duckdb":
            yield path, "\n".join(_duckdb_texts(path))
        elif path.read_bytes()[:16] == b"SQLite format 3\x00":
            yield path, "\n".join(_sqlite_texts(path))
        else:
            yield path, path.read_bytes().decode(errors="replace")


def test_the_salt_is_in_no_log_metadata_snapshot_or_mlflow_record(graph):
    scanned = list(stored_texts(graph["home"], skip_raw_tables=False))
    assert any(p.name == "runs.db" for p, _ in scanned) and any(p.name == "mlflow.db" for p, _ in scanned)
    assert [str(p) for p, text in scanned if SECRET_SALT in text] == []
    # The run snapshot names the variable instead (an unresolved EnvVar), so the scan is not vacuous.
    assert any(SALT_VARIABLE in text for p, text in scanned if p.name == "runs.db")


def test_no_raw_author_handle_leaves_the_raw_table(graph):
    store = graph["store"]
    assert store.read("raw_social")["author_id"].str.startswith(RAW_HANDLE_PREFIX).all()
    social = store.read("social")
    assert len(social) and social["author_id"].str.fullmatch(r"a_[0-9a-f]{16}").all()
    quarantined = store.read("quarantine")
    assert (quarantined["source"] == "social").any(), "social rows are quarantined, so their payloads are scanned"
    leaks = [str(p) for p, text in stored_texts(graph["home"], skip_raw_tables=True) if RAW_HANDLE_PREFIX in text]
    assert leaks == []
