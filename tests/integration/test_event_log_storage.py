"""The batched event log reports what Dagster's stock SQLite event log reports.

The same single-run backfill (three partitioned assets and a partitioned check, 15 business days)
runs once on each storage; everything the UI reads about assets through the instance's API must
be equal: asset keys, materialized partitions, status per partition, each materialization's
partition, metadata and tags in order, the latest materialization, asset records, the check's
evaluation per partition and its execution records (history and latest). Evaluations that no
planned execution announced (the flush's insert path) are compared on both storages directly.
The versions it passed on are `mmrisk_dagster.instance.BATCHED_EVENT_LOG_PROVEN_ON`
(docs/development.md).
"""

import logging
import time

import dagster as dg
import pytest
from dagster_batched_sqlite import BatchedSqliteEventLogStorage

from benchmarks.event_log import batch_size_for, instance_in, range_graph, run_range

FIRST, LAST = "2024-01-01", "2024-01-19"
# Differ from run to run by construction: not what the UI shows about an asset's state.
RUN_SPECIFIC_TAGS = ("dagster/run_id", "dagster/backfill")


def what_the_ui_reads(instance: dg.DagsterInstance) -> dict:
    partitions, assets, checks = range_graph(FIRST, LAST)
    keys = partitions.get_partition_keys()
    report: dict = {"asset_keys": sorted(k.to_user_string() for k in instance.get_asset_keys())}
    for asset in assets:
        key = asset.key
        materializations = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=10_000).records
        latest = instance.get_latest_materialization_event(key)
        (record,) = instance.get_asset_records([key])
        report[key.to_user_string()] = {
            "materialized_partitions": sorted(instance.get_materialized_partitions(key)),
            "status_by_partition": dict(instance.get_status_by_partition(key, keys, partitions) or {}),
            "materializations": [
                (
                    m.partition_key,
                    {name: value.value for name, value in m.asset_materialization.metadata.items()},
                    {k: v for k, v in (m.asset_materialization.tags or {}).items() if not k.startswith(RUN_SPECIFIC_TAGS)},
                )
                for m in sorted(materializations, key=lambda m: m.storage_id)
            ],
            "latest_partition": latest.dagster_event.partition if latest and latest.dagster_event else None,
            "record_latest_partition": record.asset_entry.last_materialization_record.partition_key
            if record.asset_entry.last_materialization_record else None,
        }
    (run,) = instance.get_run_records()
    report["check_events"] = [
        (event.dagster_event.event_specific_data.check_name, event.dagster_event.event_specific_data.partition,
         event.dagster_event.event_specific_data.passed,
         {name: value.value for name, value in event.dagster_event.event_specific_data.metadata.items()})
        for event in instance.all_logs(run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    # What the UI's check pages read: the execution records, per partition and latest.
    (check_key,) = checks[0].check_keys
    storage = instance.event_log_storage
    history = storage.get_asset_check_execution_history(check_key, limit=10_000)
    report["check_history"] = sorted((r.partition, r.status.value, r.event is not None) for r in history)
    latest = storage.get_latest_asset_check_execution_by_key([check_key]).get(check_key)
    report["check_latest"] = (latest.status.value, latest.event is not None) if latest else None
    return report


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = {}
    for storage in ("stock", "batched"):
        with instance_in(tmp_path_factory.mktemp(storage), storage) as instance:
            # On any Dagster version, the version being proven included: never stock against stock.
            assert (type(instance.event_log_storage) is BatchedSqliteEventLogStorage) == (storage == "batched")
            run_range(instance, FIRST, LAST, batch_size_for("batched"))
            out[storage] = what_the_ui_reads(instance)
    return out


def test_the_batched_event_log_reports_what_the_stock_one_reports(reports):
    assert reports["batched"] == reports["stock"]


def test_the_comparison_covers_every_partition_of_every_asset(reports):
    stock = reports["stock"]
    days = stock["upstream"]["materialized_partitions"]
    assert stock["asset_keys"] == ["downstream", "middle", "upstream"]
    for name in stock["asset_keys"]:
        assert len(stock[name]["materialized_partitions"]) == 15
        assert [m[0] for m in stock[name]["materializations"]] == stock[name]["materialized_partitions"]
        assert stock[name]["latest_partition"] == stock[name]["record_latest_partition"] == LAST
    assert stock["upstream"]["materializations"][0][1] == {"dagster/row_count": 15}
    assert [(e[1], e[2], e[3]) for e in stock["check_events"]] == [(day, True, {"day": day}) for day in days]
    assert [h[0] for h in stock["check_history"]] == days


def _log_line(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None, level=logging.INFO, user_message=message, run_id=run_id, timestamp=time.time()
    )


@pytest.mark.parametrize("storage", ["stock", "batched"])
def test_a_live_run_view_sees_each_event_as_it_is_written(tmp_path, storage):
    """The UI follows a running run through the storage's `watch`, which fires when the run's
    `.db` file changes: the batched log's kept connections must still change it on every write."""
    run_id = "0123456789abcdef0123456789abcdef"
    with instance_in(tmp_path, storage) as instance:
        log = instance.event_log_storage
        log.store_event(_log_line(run_id, "before watching"))
        seen: list[str] = []

        def on_event(event, cursor):
            seen.append(event.user_message)

        log.watch(run_id, None, on_event)
        try:
            for n in range(3):
                log.store_event(_log_line(run_id, f"event {n}"))
                deadline = time.monotonic() + 10
                while f"event {n}" not in seen and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert f"event {n}" in seen, f"{storage}: the watch never saw event {n} (seen: {seen})"
        finally:
            log.end_watch(run_id, on_event)


def _check_evaluation(run_id: str, partition: str, passed: bool) -> dg.EventLogEntry:
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("upstream"), check_name="unplanned", passed=passed, partition=partition,
        metadata={"passed": passed},
    )
    event = dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.ASSET_CHECK_EVALUATION.value, job_name="job",
        event_specific_data=evaluation,
    )
    return dg.EventLogEntry(
        error_info=None, level=logging.INFO, user_message="", run_id=run_id, timestamp=time.time(), dagster_event=event
    )


def test_evaluations_without_a_planned_execution_are_recorded_as_the_stock_log_records_them(tmp_path):
    """The other path of the held evaluations' flush: no planned row to fill in, so each becomes a
    new execution record, the later of two evaluations of one partition winning."""
    run_id = "fedcba9876543210fedcba9876543210"
    check_key = dg.AssetCheckKey(dg.AssetKey("upstream"), "unplanned")
    seen = {}
    for storage in ("stock", "batched"):
        with instance_in(tmp_path / storage, storage) as instance:
            log = instance.event_log_storage
            for partition, passed in (("a", False), ("b", True), ("a", True)):
                log.store_event(_check_evaluation(run_id, partition, passed))
            log.store_event(_log_line(run_id, "step ended"))  # what flushes the held evaluations
            history = log.get_asset_check_execution_history(check_key, limit=100)
            latest = log.get_latest_asset_check_execution_by_key([check_key])[check_key]
            seen[storage] = (
                sorted(
                    (r.partition, r.status.value, r.event.dagster_event.event_specific_data.metadata["passed"].value)
                    for r in history
                ),
                (latest.partition, latest.status.value),
                [e.dagster_event.event_specific_data.partition for e in instance.all_logs(
                    run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)],
            )
    assert seen["batched"] == seen["stock"]
    assert seen["stock"][0] == [("a", "SUCCEEDED", True), ("b", "SUCCEEDED", True)]
    assert seen["stock"][2] == ["a", "b", "a"]
