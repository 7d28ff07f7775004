"""Jobs, the weekday schedule, the new-files sensor and the freshness policy, evaluated directly."""

import os
from datetime import datetime, timezone

import dagster as dg

from tests import TEST_SALT
from mmrisk_dagster.automation import MODEL_ASSETS, SCORES_FRESHNESS
from mmrisk_dagster.definitions import defs
from mmrisk_dagster.partitions import daily_partitions, range_run_tags
from mmrisk_dagster.resources import DataSourceResource


def test_definitions_load_with_the_three_jobs_schedule_and_sensor():
    dg.Definitions.validate_loadable(defs)
    assert {"full_refresh", "daily_scoring", "retrain"} <= {job.name for job in defs.resolve_all_job_defs()}
    assert defs.resolve_schedule_def("daily_scoring_schedule").job_name == "daily_scoring"
    assert defs.resolve_sensor_def("new_source_files").job_name == "daily_scoring"


def test_daily_scoring_is_the_partitioned_path_without_training():
    job_keys = {k.to_user_string() for k in defs.resolve_job_def("daily_scoring").asset_layer.executable_asset_keys}
    partitioned = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs() if spec.partitions_def}
    assert job_keys == partitioned
    assert {"raw_prices", "risk_scores", "risk_alerts"} <= job_keys
    assert not job_keys & set(MODEL_ASSETS)
    retrain_keys = {k.to_user_string() for k in defs.resolve_job_def("retrain").asset_layer.executable_asset_keys}
    assert retrain_keys == set(MODEL_ASSETS)


def _tick(when: datetime) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def("daily_scoring_schedule")
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


def test_weekday_schedule_scores_the_business_day_that_just_closed():
    schedule = defs.resolve_schedule_def("daily_scoring_schedule")
    assert schedule.cron_schedule == "0 0 * * 1-5"
    wednesday = _tick(datetime(2024, 3, 6, 0, 0, tzinfo=timezone.utc))
    assert [r.partition_key for r in wednesday] == ["2024-03-05"]
    monday = _tick(datetime(2024, 3, 11, 0, 0, tzinfo=timezone.utc))
    assert [r.partition_key for r in monday] == ["2024-03-08"], "Monday's tick scores Friday"


def _evaluate_sensor(folder, cursor=None, kind="files"):
    sensor = defs.resolve_sensor_def("new_source_files")
    context = dg.build_sensor_context(cursor=cursor, resources={"data_source": DataSourceResource(kind=kind, path=str(folder), pseudonym_salt=TEST_SALT)})
    return sensor.evaluate_tick(context)


def test_sensor_requests_a_run_when_files_land_or_change_and_only_then(tmp_path):
    assert _evaluate_sensor(tmp_path).run_requests == []
    (tmp_path / "prices.csv").write_text("entity_id,date,open,high,low,close,volume\nA,2024-01-02,1,1,1,1,10\n")
    (tmp_path / "notes.txt").write_text("not data")
    first = _evaluate_sensor(tmp_path)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    keys = daily_partitions.get_partition_keys()
    assert range_run_tags(keys[0], keys[-1]).items() <= request.tags.items()
    assert request.tags["mmrisk/changed_files"] == "prices.csv"

    unchanged = _evaluate_sensor(tmp_path, first.cursor)
    assert unchanged.run_requests == [] and unchanged.cursor in (None, first.cursor)

    (tmp_path / "notes.txt").write_text("still not data")
    assert _evaluate_sensor(tmp_path, first.cursor).run_requests == []

    (tmp_path / "news.csv").write_text("doc_id,entity_id,published_at,headline,body,date\n")
    with_news = _evaluate_sensor(tmp_path, first.cursor)
    assert [r.tags["mmrisk/changed_files"] for r in with_news.run_requests] == ["news.csv"]
    assert with_news.run_requests[0].run_key != request.run_key

    os.remove(tmp_path / "prices.csv")
    removed = _evaluate_sensor(tmp_path, with_news.cursor)
    assert [r.tags["mmrisk/changed_files"] for r in removed.run_requests] == ["prices.csv"]


def test_sensor_skips_when_the_source_is_not_files(tmp_path):
    (tmp_path / "prices.csv").write_text("x\n")
    result = _evaluate_sensor(tmp_path, kind="synthetic")
    assert result.run_requests == [] and "synthetic" in result.skip_message


def test_scores_carry_a_freshness_policy():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for name in ("risk_scores", "risk_alerts"):
        assert specs[name].freshness_policy == SCORES_FRESHNESS, name
    assert SCORES_FRESHNESS.deadline_cron == "0 6 * * 1-5"


def test_partitions_run_from_the_first_to_the_last_configured_day_weekdays_only():
    from datetime import date

    from mmrisk_dagster.partitions import business_day_partitions

    # 2024-02-16 is a Friday, whose window closes only on Monday: it must still be a partition.
    keys = business_day_partitions(date(2024, 1, 31), date(2024, 2, 16)).get_partition_keys()
    assert keys[0] == "2024-01-31" and keys[-1] == "2024-02-16"
    assert len(keys) == 13 and "2024-02-10" not in keys
    assert business_day_partitions(date(2024, 2, 12), date(2024, 2, 14)).get_partition_keys() == [
        "2024-02-12", "2024-02-13", "2024-02-14",
    ]
