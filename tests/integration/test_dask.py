"""The project's own code location on Dagster's Dask executor, against a local `distributed` cluster.

Nothing changes in the definitions: `MMRISK_EXECUTOR=dask` and run config pointing at the
cluster's scheduler. Two range runs of the same job (raw -> cleaned -> price windows, with every
asset check on them) start at once on one cluster of two worker processes: each runs all of its
own steps, and the warehouse holds what the pure core computes on the same data.
"""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import distributed
import pandas as pd
import pytest

from mmrisk_dagster.executors import dask_task_key
from mmrisk_dagster.ml.features import price_windows
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.assets.clean import CLEANED, rejected_name
from mmrisk_dagster.sources.cleaning import clean
from tests import TEST_SALT
from tests.integration.test_concurrency import END, ROOT, START, tiny_environment, tiny_raw

SUBGRAPH = ["raw_prices", "raw_fundamentals", "raw_news", "raw_social", "raw_events",
            *(rejected_name(name) for name in CLEANED), "quarantine", "prices", "price_sequence_embedding"]
# Each table is cleaned by one step (`clean_<table>`) that writes the clean and the rejected rows.
SUBGRAPH_STEPS = {"raw_prices", "raw_fundamentals", "raw_news", "raw_social", "raw_events",
                  *(f"clean_{table}" for table in CLEANED.values()), "quarantine", "price_sequence_embedding"}


@pytest.fixture(scope="module")
def dask_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("dask_home")
    env = {**tiny_environment(home), "MMRISK_EXECUTOR": "dask"}
    with pytest.MonkeyPatch.context() as monkeypatch:
        # Worker processes inherit this environment: they load the same tiny code location.
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            client.wait_for_workers(2)
            run_config = f'{{"execution": {{"config": {{"cluster": {{"existing": {{"address": "{cluster.scheduler_address}"}}}}}}}}}}'
            command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
                       "mmrisk_dagster.definitions", "--select", ",".join(SUBGRAPH), "--partition-range",
                       f"{START}...{END}", "--config-json", run_config]
            with distributed.get_task_stream(client) as stream:
                runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True) for _ in range(2)]
                outputs = [run.communicate(timeout=600)[0] for run in runs]
            tasks = list(stream.data)
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        steps_done = {
            record.dagster_run.run_id: {
                event.step_key for event in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
            }
            for record in instance.get_run_records()
        }
    yield {"home": home, "returncodes": [run.returncode for run in runs], "outputs": outputs, "tasks": tasks,
           "steps_done": steps_done}


def test_two_runs_of_one_job_at_once_each_run_all_their_steps_on_the_dask_workers(dask_run):
    assert dask_run["returncodes"] == [0, 0], "\n".join(out[-3000:] for out in dask_run["outputs"])
    steps = SUBGRAPH_STEPS | {"prices_rows_conserved", "price_sequence_embedding_vectors_valid", "raw_prices_expectations"}
    assert len(dask_run["steps_done"]) == 2
    for run_id, done in dask_run["steps_done"].items():
        assert steps <= done, run_id
        # Every step of this run was a Dask task of its own, on a worker.
        keys = {task["key"] for task in dask_run["tasks"] if task["worker"]}
        assert {dask_task_key(run_id, "__ASSET_JOB", step) for step in done} <= keys


def test_the_dask_run_writes_what_the_core_computes(dask_run):
    store = ParquetWarehouse(dask_run["home"] / "warehouse")
    raw = tiny_raw("prices", START, END)
    cleaning = clean("prices", raw, TEST_SALT)
    assert len(store.read("raw_prices")) == len(raw)
    assert len(store.read("prices")) == len(cleaning.clean)
    assert (store.read("quarantine")["source"] == "prices").sum() == len(cleaning.rejected)
    dates = pd.DatetimeIndex(store.existing_partitions("prices"))
    expected = price_windows(cleaning.clean, dates).sort_values(["entity_id", "date"], ignore_index=True)
    written = store.read("price_sequence_embedding").sort_values(["entity_id", "date"], ignore_index=True)
    assert len(written) == len(expected) > 0
    assert (written["entity_id"] == expected["entity_id"]).all()
    assert all((a == b).all() for a, b in zip(written["vector"], expected["vector"]))
