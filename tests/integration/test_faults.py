"""Faults with real processes: a range run through the multiprocess executor is SIGKILLed (the
run process with its step processes, then in a second run one step process alone), the dead run
is marked failed, and re-execution from failure completes it with exactly the rows the pure core
produces, no duplicate and no temporary file left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from mmrisk_dagster.instance import fail_dead_runs
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from tests.integration.test_concurrency import END, ROOT, START, clean_rows, tiny_environment

RUN = [sys.executable, "-m", "tests.integration.fault_run", START, END]


def _wait_for(predicate, what: str, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _step_events(instance, run_id, kind):
    return {e.step_key for e in instance.all_logs(run_id, of_type=kind) if e.step_key}


def _only_run(instance):
    runs = instance.get_runs()
    return runs[0].run_id if runs else None


def _assert_complete_and_exact(home: Path):
    warehouse = home / "warehouse"
    assert not list(warehouse.rglob("*.tmp")), "no temporary file survives re-execution"
    for path in warehouse.rglob("*.parquet"):
        pq.read_table(path)  # every partition file is whole
    store = ParquetWarehouse(warehouse)
    for table in ("prices", "news"):
        stored, expected = store.read(table), clean_rows(table, START, END)
        key = ["entity_id", "date"] if table == "prices" else ["doc_id"]
        assert not stored.duplicated(key).any()
        assert stored.groupby("date").size().to_dict() == expected.groupby("date").size().to_dict()


@pytest.fixture
def environment(tmp_path):
    env = tiny_environment(tmp_path)
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    yield env, instance, tmp_path
    instance.dispose()


def test_a_killed_run_is_marked_failed_and_reexecution_from_failure_completes_it(environment):
    env, instance, home = environment
    run = subprocess.Popen(RUN, cwd=ROOT, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_id = _wait_for(lambda: _only_run(instance), "the run to start")
    _wait_for(lambda: _step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS), "a first step to succeed")
    os.killpg(run.pid, signal.SIGKILL)  # the run process and every step process it started
    run.wait()
    done_before = _step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED, "Dagster alone cannot tell"
    assert fail_dead_runs(instance) == [run_id]
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert fail_dead_runs(instance) == []

    again = subprocess.run([*RUN, run_id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    _assert_complete_and_exact(home)
    # The resumed range run redoes only what the killed one had not finished (each step covers
    # every partition of the range): nothing already materialized is written again.
    redone = _step_events(instance, _run_id_of(again.stdout), dg.DagsterEventType.STEP_START)
    assert redone and redone.isdisjoint(done_before), (redone, done_before)


def _run_id_of(output: str) -> str:
    """The run id `fault_run` prints: 'run <id> success=<bool>'."""
    return next(line.split()[1] for line in output.splitlines() if line.startswith("run "))


def _running_step_process(instance, run_id):
    """(step, pid) of a step process that has started and not finished, from the executor's
    'Executing step "x" in subprocess.' events."""
    finished = _step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED):
        # Not a raw step: their RetryPolicy (transient source errors) also retries a killed process.
        if entry.step_key in finished or entry.step_key.startswith("raw_"):
            continue
        pid = int(entry.dagster_event.event_specific_data.metadata["pid"].value)
        if _process_running(pid):
            return entry.step_key, pid
    return None


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_a_killed_step_process_fails_its_run_and_reexecution_completes_it(environment):
    env, instance, home = environment
    run = subprocess.Popen(RUN, cwd=ROOT, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_id = _wait_for(lambda: _only_run(instance), "the run to start")
    step, pid = _wait_for(lambda: _running_step_process(instance, run_id), "a running step process")
    os.kill(pid, signal.SIGKILL)
    assert run.wait(timeout=600) != 0, f"killing {step} (pid {pid}) fails the run"
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert step not in _step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)

    again = subprocess.run([*RUN, run_id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    _assert_complete_and_exact(home)
