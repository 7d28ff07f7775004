"""The project's own code location on Dagster's Dask executor, against a local `distributed` cluster.

Nothing changes in the definitions: `MMRISK_EXECUTOR=dask` and run config pointing at the
cluster's scheduler. A range run of raw -> cleaned -> price windows, with every asset check on
them, runs on two worker processes and writes what the pure core computes on the same data.
"""

import subprocess
import sys
from pathlib import Path

import distributed
import pandas as pd
import pytest

from mmrisk_dagster.ml.features import price_windows
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources import read_source_table
from mmrisk_dagster.assets.clean import CLEANED, rejected_name
from mmrisk_dagster.sources.cleaning import clean
from tests import TEST_SALT
from tests.integration.test_concurrency import END, ROOT, START, tiny_environment

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
            with distributed.get_task_stream(client) as stream:
                done = subprocess.run(
                    [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "mmrisk_dagster.definitions",
                     "--select", ",".join(SUBGRAPH), "--partition-range", f"{START}...{END}", "--config-json", run_config],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                )
            tasks = list(stream.data)
    yield {"home": home, "done": done, "tasks": tasks}


def test_the_range_run_succeeds_with_every_step_on_the_dask_workers(dask_run):
    done = dask_run["done"]
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    steps = {task["key"].split(".", 1)[1] for task in dask_run["tasks"]}
    assert SUBGRAPH_STEPS <= steps
    assert {"prices_rows_conserved", "price_sequence_embedding_vectors_valid", "raw_prices_expectations"} <= steps
    assert all(task["worker"] for task in dask_run["tasks"])


def test_the_dask_run_writes_what_the_core_computes(dask_run):
    store = ParquetWarehouse(dask_run["home"] / "warehouse")
    raw = read_source_table("synthetic", "prices", pd.Timestamp(START), pd.Timestamp(END), synthetic_entities=10,
                            synthetic_seed=7, synthetic_start=START, synthetic_end=END)
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
