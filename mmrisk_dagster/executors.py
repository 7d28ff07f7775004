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
from unittest import mock

import dagster as dg

EXECUTORS = ("multiprocess", "dask")


class _Sealed:
    """Carries a Dagster object through `Client.submit` unseen; unpickles as the object itself.

    Dask walks every tuple in a task's arguments looking for futures, and Dagster's records
    (the run, its partition subset, asset keys...) are tuples that refuse iteration, so a
    partitioned run fails before any step starts (dagster-dask 0.29.27 with dask 2024.10 to 2026.8).
    """

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return _unseal, (self.value,)


def _unseal(value):
    return value


def _dask_executor() -> dg.ExecutorDefinition:
    import distributed
    from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
    from dagster_dask.executor import DaskExecutor, dask_executor

    submit = distributed.Client.submit

    def submit_sealed(client, func, dependencies, *args, **kwargs):
        # `dependencies` (futures of upstream steps) stay visible: Dask orders the steps by them.
        return submit(client, func, dependencies, *map(_Sealed, args), **kwargs)

    class RecordSafeDaskExecutor(DaskExecutor):
        def execute(self, plan_context, execution_plan):
            with mock.patch.object(distributed.Client, "submit", submit_sealed):
                yield from super().execute(plan_context, execution_plan)

    @dg.executor(
        name="dask", config_schema=dask_executor.config_schema, requirements=multiple_process_executor_requirements()
    )
    def record_safe_dask_executor(init_context):
        ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
        return RecordSafeDaskExecutor(cluster_type, cluster_configuration)

    return record_safe_dask_executor


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("MMRISK_EXECUTOR", "multiprocess")
    if name == "multiprocess":
        return dg.multi_or_in_process_executor
    if name == "dask":
        return _dask_executor()  # optional: pip install 'mmrisk-dagster[scale]'
    raise ValueError(f"unknown MMRISK_EXECUTOR '{name}'; choose one of {EXECUTORS}")
