"""Several partitions in flight at once, through the Dagster CLI and the multiprocess executor.

After a range run has loaded six weeks of history, three single-day runs of raw -> cleaned -> embedding (prices and news) start together against
one data home: they write the same tables, the same DuckDB text-embedding cache and the same
Dagster instance. Then one day is re-run through Dagster (row counts unchanged) and a write is
made to crash halfway (the previous version stays).
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mmrisk_dagster.definitions import build_resources, defs
from mmrisk_dagster.instance import dagster_yaml
from mmrisk_dagster.ml.features import price_windows
from mmrisk_dagster.partitions import range_run_tags
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.settings import Settings
from mmrisk_dagster.sources import read_source_table
from mmrisk_dagster.sources.cleaning import clean
from tests import TEST_SALT
from tests.integration.scale_jobs import INGEST_ASSETS

ROOT = Path(__file__).resolve().parents[2]
START, END = "2024-01-01", "2024-02-16"
HISTORY = ("2024-01-01", "2024-02-09")
DAYS = ["2024-02-12", "2024-02-13", "2024-02-14"]
TINY_UNIVERSE = {"MMRISK_SYNTHETIC_ENTITIES": "10", "MMRISK_START_DATE": START, "MMRISK_END_DATE": END, "MMRISK_SEED": "7",
                 "MMRISK_SYNTHETIC_DEFAULT_RATE": "5.0"}
# The forkserver imports the definitions (and torch) once; each step process is then a fork.
MULTIPROCESS = (
    '{"execution": {"config": {"multiprocess": {"max_concurrent": 3, "start_method": {"forkserver": '
    '{"preload_modules": ["mmrisk_dagster.definitions"]}}}}}, '
    '"loggers": {"console": {"config": {"log_level": "WARNING"}}}}'
)
LOCK_ERRORS = ("Could not set lock", "database is locked", "Conflicting lock")


def tiny_environment(home: Path) -> dict:
    """Environment of a private data home with a tiny universe, its Dagster instance created."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(dagster_yaml(dagster_home))
    # Create the instance's SQLite schema once: concurrent first runs would each try to migrate it.
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    return {
        **os.environ,
        **TINY_UNIVERSE,
        "MMRISK_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DAGSTER_EVENT_BATCH_SIZE": "1000",
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    }


def tiny_raw(table: str, first: str, last: str) -> pd.DataFrame:
    """Raw rows of the tiny universe, read by the pure core with the settings the graph gets."""
    return read_source_table(
        "synthetic", table, pd.Timestamp(first), pd.Timestamp(last), synthetic_entities=10, synthetic_seed=7,
        synthetic_default_rate=float(TINY_UNIVERSE["MMRISK_SYNTHETIC_DEFAULT_RATE"]),
        synthetic_start=START, synthetic_end=END,
    )


def clean_rows(table: str, first: str, last: str) -> pd.DataFrame:
    return clean(table, tiny_raw(table, first, last), TEST_SALT).clean


def materialize_in_process(home: Path, monkeypatch, selection, **kwargs) -> dg.ExecuteInProcessResult:
    """A run in this process against the tiny data home (resources built from its environment)."""
    for name, value in TINY_UNIVERSE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MMRISK_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    return dg.materialize(
        [*defs.assets], selection=list(selection), resources=build_resources(Settings.from_env()),
        instance=instance, **kwargs,
    )


@pytest.fixture(scope="module")
def concurrent_runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("concurrent_home")
    env = tiny_environment(home)
    with pytest.MonkeyPatch.context() as monkeypatch:
        history = materialize_in_process(
            home, monkeypatch, ["raw_prices", "prices", "raw_news", "news"],
            tags=range_run_tags(HISTORY[0], HISTORY[1]),
        )
    assert history.success
    dagster = str(Path(sys.executable).with_name("dagster"))
    run_config = home / "multiprocess.yaml"
    run_config.write_text(MULTIPROCESS)  # JSON is YAML
    processes = [
        subprocess.Popen(
            [dagster, "job", "execute", "-f", "tests/integration/scale_jobs.py", "-a", "ingest_job",
             "-c", str(run_config), "--tags", f'{{"dagster/partition": "{day}"}}'],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for day in DAYS
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    yield {"home": home, "env": env, "codes": [p.returncode for p in processes], "outputs": outputs}


def test_concurrent_partition_runs_succeed_without_lock_errors(concurrent_runs):
    for code, output in zip(concurrent_runs["codes"], concurrent_runs["outputs"]):
        assert code == 0, output[-3000:]
        assert not [e for e in LOCK_ERRORS if e in output], output[-3000:]
    instance = dg.DagsterInstance.from_config(str(concurrent_runs["home"] / "dagster"))
    runs = [r for r in instance.get_runs() if "dagster/partition" in r.tags]
    assert sorted(r.tags["dagster/partition"] for r in runs) == DAYS
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    stats = [instance.get_run_stats(r.run_id) for r in runs]
    assert max(s.start_time for s in stats) < min(s.end_time for s in stats), "the three runs overlapped"
    for run in runs:
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert set(INGEST_ASSETS) <= {e.dagster_event.asset_key.to_user_string() for e in events}


def test_each_partition_holds_exactly_its_rows(concurrent_runs):
    store = ParquetWarehouse(concurrent_runs["home"] / "warehouse")
    for table in ("price_sequence_embedding", "news_embedding"):
        assert store.existing_partitions(table) == DAYS, table
    history = clean_rows("prices", START, DAYS[-1])
    for day in DAYS:
        prices, news = clean_rows("prices", day, day), clean_rows("news", day, day)
        assert len(store.read("prices", [day])) == len(prices) > 0
        assert len(store.read("news", [day])) == len(news) > 0
        windows = price_windows(history, [pd.Timestamp(day)])
        assert len(store.read("price_sequence_embedding", [day])) == len(windows) > 0
        assert len(store.read("news_embedding", [day])) == news["entity_id"].nunique()


def _rerun(concurrent_runs, day, monkeypatch, **kwargs):
    return materialize_in_process(concurrent_runs["home"], monkeypatch, INGEST_ASSETS, partition_key=day, **kwargs)


def test_rerunning_a_day_through_dagster_leaves_row_counts_unchanged(concurrent_runs, monkeypatch):
    store = ParquetWarehouse(concurrent_runs["home"] / "warehouse")
    counts = {t: {d: len(store.read(t, [d])) for d in DAYS} for t in INGEST_ASSETS}
    untouched = store.partition_path("prices", DAYS[0]).stat().st_mtime_ns
    assert _rerun(concurrent_runs, DAYS[1], monkeypatch).success
    assert {t: {d: len(store.read(t, [d])) for d in DAYS} for t in INGEST_ASSETS} == counts
    assert store.partition_path("prices", DAYS[0]).stat().st_mtime_ns == untouched, "other days not rewritten"


def test_a_crash_halfway_through_a_write_keeps_the_previous_version(concurrent_runs, monkeypatch):
    store = ParquetWarehouse(concurrent_runs["home"] / "warehouse")
    day = DAYS[2]
    before = store.read("prices", [day])
    write_table = pq.write_table

    def crash_while_writing_prices(table, where, **kwargs):
        if "/prices/" not in str(where):
            return write_table(table, where, **kwargs)
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(pq, "write_table", crash_while_writing_prices)
    result = _rerun(concurrent_runs, day, monkeypatch, raise_on_error=False)
    monkeypatch.setattr(pq, "write_table", write_table)
    assert not result.success
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed == ["clean_prices"]
    pd.testing.assert_frame_equal(store.read("prices", [day]), before)
    assert not list(store.table_dir("prices").glob("*.tmp")) and not list(store.table_dir("prices").glob(".*"))
