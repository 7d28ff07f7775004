"""The whole graph on real data: `make demo-stocknet` over a slice of the StockNet archive in
`../shared/data` (twelve tickers, January to September 2015), the command a user runs.

StockNet has prices and tweets only, no filings, news or default events: the run must still go
from raw files to the model evaluation, with movement as the primary task, and either score the
slice (gate passed) or stop at the gate and say by how much it lost. The text encoder is the
hashing one (`MMRISK_TEXT_ENCODER=hashing`) to keep this under a few minutes on two cores.
"""

import os

import pandas as pd
import pytest

from mmrisk_dagster.ml.panel import MODALITIES
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE
from tests.commands import ROOT, make
from tests.integration.test_real_data import STOCKNET, needs

TICKERS = ("AAPL", "AMZN", "BAC", "C", "CSCO", "FB", "GE", "GOOG", "INTC", "JPM", "MSFT", "T")
FIRST, LAST = "2015-01-01", "2015-09-30"
SPLIT = "2015-05-01,2015-06-15,2015-08-03"  # validation, gate and test start
HORIZON_DAYS = 5
SALT = "stocknet-slice-test-salt-5d1e"

pytestmark = needs(STOCKNET)


@pytest.fixture(scope="module")
def stocknet_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("stocknet_slice")
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({
        "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", SALT_VARIABLE: SALT,
        "MMRISK_ENTITIES": ",".join(TICKERS), "MMRISK_START_DATE": FIRST,
        "MMRISK_HORIZON_DAYS": str(HORIZON_DAYS), "MMRISK_TEXT_ENCODER": "hashing",
    })
    done = make("demo-stocknet", work, env, f"STOCKNET={STOCKNET}", f"STOCKNET_HOME={home}",
                f"STOCKNET_END={LAST}", f"STOCKNET_SPLIT={SPLIT}", timeout=1800)
    return {"done": done, "output": done.stdout + done.stderr, "store": ParquetWarehouse(home / "warehouse")}


def test_every_stage_holds_the_slice(stocknet_run):
    store = stocknet_run["store"]
    assert store.existing_partitions("raw_prices"), stocknet_run["output"][-3000:]
    prices, social = store.read("prices"), store.read("social")
    assert set(prices["entity_id"]) == set(TICKERS)
    assert prices["date"].between(pd.Timestamp(FIRST), pd.Timestamp(LAST)).all()
    assert set(social["entity_id"]) <= set(TICKERS) and len(social) > 1000
    assert not social["author_id"].astype(str).str.startswith("@").any(), "authors are pseudonymized"
    # Every raw row is kept or quarantined, table by table.
    quarantine = store.read("quarantine")
    for table in ("prices", "social"):
        raw = store.read(f"raw_{table}")
        assert len(raw) == len(store.read(table)) + (quarantine["source"] == table).sum()
    assert store.read("news").empty and store.read("risk_events").empty

    panel = store.read("modality_panel")
    assert not panel.duplicated(["entity_id", "date"]).any() and set(panel["entity_id"]) <= set(TICKERS)
    coverage = {m: panel[f"{m}_present"].mean() for m in MODALITIES}
    # Price windows need PRICE_WINDOW days of history: the first weeks have none.
    assert coverage["prices"] > 0.8 and coverage["social"] > 0.3, coverage
    assert coverage["news"] == 0 and coverage["fundamentals"] == 0, coverage
    labels = store.read("training_labels")
    assert (labels["default"].dropna() == 0).all(), "no default events: no default is invented"
    # Movement is up or down beyond StockNet's thresholds; the days in between have no label.
    assert labels["movement"].notna().sum() > 0.3 * len(labels)


def test_the_model_is_judged_on_movement_and_the_run_says_its_verdict(stocknet_run):
    store, output, done = stocknet_run["store"], stocknet_run["output"], stocknet_run["done"]
    report = store.read_json("model_evaluation")
    assert report["primary_task"] == "movement", output[-3000:]
    gate = report["gate"]
    assert gate["split"] == "gate" and gate["task"] == "movement"
    assert 0 <= gate["model_auc"] <= 1 and gate["positives"] > 0
    assert set(gate["baseline_aucs"]) >= {"hist_gbm", "tfidf_logreg", "linear_svm"}
    # The test split is reported separately from the gate's and holds movement figures.
    assert "auc" in report["model"]["ensemble"]["movement"]
    margin = f"margin {gate['margin']:+.4f}"
    if gate["passed"]:
        assert done.returncode == 0, output[-3000:]
        scores = store.read("risk_scores")
        assert set(scores["entity_id"]) <= set(TICKERS) and scores["movement_probability"].between(0, 1).all()
        assert "model gate: PASSED" in output and margin in output
    else:
        assert done.returncode != 0
        assert "check model_evaluation:model_gate failed" in output and "model gate: FAILED" in output
        assert margin in output
        assert not store.existing_partitions("risk_scores"), "a model that lost its gate scores nothing"
