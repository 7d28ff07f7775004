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

import importlib
import os

import dagster as dg

EXECUTORS = ("multiprocess", "dask")

# Where each `cluster` choice of dagster-dask's run config lives (`existing` is an address).
DASK_CLUSTERS = {
    "local": ("dask.distributed", "LocalCluster"),
    "ssh": ("dask.distributed", "SSHCluster"),
    "yarn": ("dask_yarn", "YarnCluster"),
    "kube": ("dask_kubernetes", "KubeCluster"),
    **{name: ("dask_jobqueue", f"{name.upper()}Cluster") for name in ("pbs", "moab", "sge", "lsf", "slurm", "oar")},
}


def dask_task_key(run_id: str, job_name: str, step_key: str) -> str:
    """The Dask task of one step of one run. dagster-dask names it `<job>.<step>`, and Dask treats
    tasks with one key as one task: a second run of the same job on a shared scheduler would be
    handed the first run's results instead of running its own steps."""
    return f"{job_name}.{step_key}.{run_id}"


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
    from dagster_dask.executor import DaskExecutor, dask_executor, get_dask_resource_requirements, query_on_dask_worker

    class RunScopedDaskExecutor(DaskExecutor):
        """dagster-dask's executor (its config, its worker function) with two changes to how a
        step is submitted: the Dask task key names the run, and Dagster's records travel sealed."""

        def execute(self, plan_context, execution_plan):
            if not plan_context.instance.is_persistent:
                raise dg.DagsterInvariantViolationError(
                    "The dask executor needs a persistent Dagster instance (set DAGSTER_HOME)."
                )
            run = plan_context.dagster_run
            futures = {}
            with distributed.Client(self._cluster(plan_context.job_name)) as client:
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        # Futures of upstream steps stay visible to Dask: it orders the steps by them.
                        dependencies = [
                            futures[key] for step_input in step.step_inputs for key in step_input.dependency_keys
                        ]
                        sealed = (
                            plan_context.reconstructable_job,
                            run,
                            plan_context.run_config,
                            [step.key],
                            plan_context.instance.get_ref(),
                            execution_plan.known_state,
                        )
                        futures[step.key] = client.submit(
                            query_on_dask_worker,
                            dependencies,
                            *map(_Sealed, sealed),
                            key=dask_task_key(run.run_id, plan_context.job_name, step.key),
                            resources=get_dask_resource_requirements(step.tags),
                        )
                for _, events in distributed.as_completed(list(futures.values()), with_results=True):
                    yield from events

        def _cluster(self, job_name: str):
            if self.cluster_type == "existing":
                return self.cluster_configuration["address"]
            module, name = DASK_CLUSTERS[self.cluster_type]  # the config schema allows no other
            return getattr(importlib.import_module(module), name)(**self.build_dict(job_name))

    @dg.executor(
        name="dask",
        config_schema=dask_executor.config_schema.as_field(),
        requirements=dg.multiple_process_executor_requirements(),
    )
    def run_scoped_dask_executor(init_context):
        ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
        return RunScopedDaskExecutor(cluster_type, cluster_configuration)

    return run_scoped_dask_executor


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("MMRISK_EXECUTOR", "multiprocess")
    if name == "multiprocess":
        return dg.multi_or_in_process_executor
    if name == "dask":
        return _dask_executor()  # optional: pip install 'mmrisk-dagster[scale]'
    raise ValueError(f"unknown MMRISK_EXECUTOR '{name}'; choose one of {EXECUTORS}")
