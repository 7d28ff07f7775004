"""Running the project's documented commands from tests on a small universe.

Make targets run with the current interpreter's bin folder as `BIN` and a fresh stamp as `STAMP`,
so they use this environment instead of building a `.venv`.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIRST, LAST = "2024-01-01", "2024-06-28"
FAST_RUN_CONFIG = """\
ops:
  shared_space: {config: {epochs: 1}}
  multitask_model: {config: {seeds: [0], epochs: 2}}
  model_evaluation: {config: {baseline_seeds: [0], single_modality_seeds: [], gate_tolerance: 1.0}}
resources:
  training_window: {config: {horizon_days: 10}}
loggers:
  console: {config: {log_level: WARNING}}
"""


def small_env(home: Path) -> dict:
    """The environment of a new data home (no `DAGSTER_HOME` yet) with a small universe."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "PYTHONPATH": str(ROOT), "MMRISK_HOME": str(home), "MMRISK_SYNTHETIC_ENTITIES": "8",
            "MMRISK_START_DATE": FIRST, "MMRISK_END_DATE": LAST, "OMP_NUM_THREADS": "1"}


def make(target: str, workdir: Path, env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    stamp = workdir / "installed"
    stamp.touch()
    return subprocess.run(
        ["make", target, f"BIN={BIN}", f"STAMP={stamp}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def backfill_small_graph(workdir: Path, env: dict) -> subprocess.CompletedProcess:
    """`make backfill` of the whole graph over the small range with the fast run config."""
    config = workdir / "run_config.yaml"
    config.write_text(FAST_RUN_CONFIG)
    return make("backfill", workdir, env, f"FROM={FIRST}", f"TO={LAST}", f"CONFIG={config}")


def stop_server(server: subprocess.Popen, grace_seconds: int = 60) -> None:
    """Stop a server started with `start_new_session=True` and every process in its group:
    SIGTERM, then SIGKILL after `grace_seconds`. `dagster dev` has been seen to stay up after its
    daemon shut down on SIGTERM, and servers left running slowed the tests after them."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
