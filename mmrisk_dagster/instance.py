"""The persistent Dagster instance shared by `make demo`, `make ui` and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from mmrisk_dagster.settings import Settings

# Partition materializations reach the event log in batches of this size (see storage.py).
EVENT_BATCH_SIZE = "1000"


def dagster_yaml(home: Path) -> str:
    return f"""\
telemetry:
  enabled: false
event_log_storage:
  module: mmrisk_dagster.storage
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {home / "history" / "runs"}
"""


def prepare_dagster_home(settings: Settings | None = None) -> Path:
    """Create `$DAGSTER_HOME` (default: under the data home) and its instance config: telemetry
    off (no network here) and the batched event log. Also sets the batching variables."""
    settings = settings or Settings.from_env()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml(home))
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    return home


if __name__ == "__main__":
    print(f"DAGSTER_HOME={prepare_dagster_home()}")
