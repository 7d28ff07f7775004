"""The persistent Dagster instance shared by `make demo`, `make ui` and the CLI.

Also the sweep for runs whose process died: a run worker that is SIGKILLed (or whose machine
loses power) never reports an end, and Dagster's run monitoring cannot see it under the default
run launcher (which has no worker health check). `fail_dead_runs` marks such runs failed, so that
"re-execute from failure" is offered and the backfill moves on; `make ui` runs it at start and
the `dead_run_sweep` sensor every minute. It judges only runs on this host whose worker process
it knows: the launcher's "Started process for run (pid: N)" event, or the `RUN_PROCESS_TAG`
that mmrisk's own in-process entry points set.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import dagster as dg

from mmrisk_dagster.settings import Settings

# Partition materializations reach the event log in batches of this size.
EVENT_BATCH_SIZE = "1000"
# Dagster versions on which the batched event log (`dagster_batched_sqlite`, built on Dagster
# internals) passed tests/integration/test_event_log_storage.py; extend only after running it.
BATCHED_EVENT_LOG_PROVEN_ON = ("1.13.27",)


TELEMETRY_OFF = "telemetry:\n  enabled: false\n"


def batched_event_log_yaml(home: Path) -> str:
    return f"""\
{TELEMETRY_OFF}event_log_storage:
  module: dagster_batched_sqlite
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {home / "history" / "runs"}
"""


def dagster_yaml(home: Path, dagster_version: str = dg.__version__) -> str:
    """The instance config: telemetry off (no network here), and the batched event log where it
    is proven. On any other Dagster version: the stock SQLite storage (same files, only slower),
    with a warning."""
    if dagster_version in BATCHED_EVENT_LOG_PROVEN_ON:
        return batched_event_log_yaml(home)
    warnings.warn(
        f"Dagster {dagster_version}: the batched event log is proven on {', '.join(BATCHED_EVENT_LOG_PROVEN_ON)} "
        "only, so Dagster's stock SQLite event log is used (range runs write their events more slowly). "
        "Run tests/integration/test_event_log_storage.py and, if it passes, add the version to "
        "mmrisk_dagster.instance.BATCHED_EVENT_LOG_PROVEN_ON.",
        stacklevel=2,
    )
    return TELEMETRY_OFF


def prepare_dagster_home(settings: Settings | None = None) -> Path:
    """Create `$DAGSTER_HOME` (default: under the data home) and its instance config
    (`dagster_yaml`). Also sets the batching variables."""
    settings = settings or Settings.from_env()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml(home))
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    return home


RUN_PROCESS_TAG = "mmrisk/run_process"  # "<host>:<pid>" of a run executed in that process
RUN_WORKER_STARTED = "Started process for run (pid: "  # the default run launcher's engine event


def run_process_tag() -> dict[str, str]:
    return {RUN_PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def _worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    tagged = run.tags.get(RUN_PROCESS_TAG)
    if tagged:
        host, _, pid = tagged.rpartition(":")
        return int(pid) if host == socket.gethostname() else None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if (
            entry.dagster_event
            and entry.dagster_event.message
            and entry.dagster_event.message.startswith(RUN_WORKER_STARTED)
        ):
            return int(entry.dagster_event.message[len(RUN_WORKER_STARTED) :].rstrip(")."))
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A zombie (killed, not yet reaped by its parent) runs nothing any more.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every started run whose worker process on this host no longer exists."""
    failed = []
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for run in started:
        pid = _worker_pid(instance, run)
        if pid is not None and not _alive(pid):
            instance.report_run_failed(
                run,
                f"The run's process (pid {pid}) is gone: it was killed or crashed before it could "
                "report an end. Partitions it was writing keep their previous version (writes are "
                "atomic); re-execute this run from failure.",
            )
            failed.append(run.run_id)
    return failed


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed every started run whose process on this host died (see instance.py).",
)
def dead_run_sweep(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_dead_runs(context.instance)
    return dg.SkipReason(f"marked {len(failed)} dead run(s) failed: {failed}" if failed else "no dead runs")


if __name__ == "__main__":
    home = prepare_dagster_home()
    print(f"DAGSTER_HOME={home}")
    with dg.DagsterInstance.get() as instance:
        for run_id in fail_dead_runs(instance):
            print(f"marked run {run_id} failed: its process is gone")
