"""The executor that runs each step, chosen by `MMRISK_EXECUTOR` when the code location loads.

The asset definitions never change; only where their steps run does:

- `multiprocess` (default): Dagster's own executor, one process per step, `max_concurrent` in
  run config (`execution: {config: {multiprocess: {max_concurrent: 4}}}`); a job executed in
  process (`make demo`, tests) stays in one process.
- `dask`: `dagster-dask` (the `scale` extra). Run config picks the cluster: a local
  `distributed` cluster (`cluster: {local: {n_workers: 2}}`), an existing scheduler
  (`cluster: {existing: {address: tcp://...}}`), or Kubernetes, SLURM, YARN... through
  dask-kubernetes / dask-jobqueue.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTORS = ("multiprocess", "dask")


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("MMRISK_EXECUTOR", "multiprocess")
    if name == "multiprocess":
        return dg.multi_or_in_process_executor
    if name == "dask":
        from dagster_dask import dask_executor  # optional: pip install 'mmrisk-dagster[scale]'

        return dask_executor
    raise ValueError(f"unknown MMRISK_EXECUTOR '{name}'; choose one of {EXECUTORS}")
