"""The instance uses the batched event log only on the Dagster versions it is proven on."""

import dagster as dg
import pytest
import yaml

from mmrisk_dagster.instance import BATCHED_EVENT_LOG_PROVEN_ON, dagster_yaml


def test_the_pinned_dagster_is_proven_and_gets_the_batched_event_log(tmp_path):
    assert dg.__version__ in BATCHED_EVENT_LOG_PROVEN_ON
    config = yaml.safe_load(dagster_yaml(tmp_path))
    assert config["event_log_storage"]["module"] == "dagster_batched_sqlite"
    assert config["telemetry"] == {"enabled": False}
    (tmp_path / "dagster.yaml").write_text(dagster_yaml(tmp_path))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.event_log_storage).__name__ == "BatchedSqliteEventLogStorage"


def test_an_unproven_dagster_falls_back_to_the_stock_event_log_and_says_so(tmp_path):
    with pytest.warns(UserWarning, match=r"Dagster 9\.9\.9: the batched event log is proven on .*BATCHED_EVENT_LOG_PROVEN_ON"):
        text = dagster_yaml(tmp_path, dagster_version="9.9.9")
    assert yaml.safe_load(text) == {"telemetry": {"enabled": False}}
    (tmp_path / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
