"""A StockNet archive that reaches the published test quarter, run as a user would:
`make demo-stocknet STOCKNET=<archive>` with no split given.

`../shared/data` holds only the dev cut (to 2015-09-30), so the stand-in is built from it: six
tickers with every date (prices, tweet files, `created_at`) moved 13 weeks later, weekdays kept,
so that its prices run to 2015-12-30. Its figures mean nothing; what is checked is that the graph
takes the published split, judges the gate on the published dev months, reports the test quarter,
and that the real-data benchmark reports dev on the gate split and test on the test quarter.
"""

import io
import json
import os
import subprocess
import sys
import tarfile
from argparse import Namespace
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.real_data import stocknet_environment
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE
from mmrisk_dagster.sources.stocknet import ROOT_NAME
from tests.commands import ROOT, make
from tests.integration.test_real_data import STOCKNET, needs

TICKERS = {"AAPL", "BAC", "GE", "INTC", "JPM", "MSFT"}
THIRTEEN_WEEKS = timedelta(weeks=13)
TWEET_TIME = "%a %b %d %H:%M:%S %z %Y"

pytestmark = needs(STOCKNET)


def _later(day: str) -> str:
    return (datetime.fromisoformat(day) + THIRTEEN_WEEKS).strftime("%Y-%m-%d")


def shifted_archive(target: Path) -> Path:
    """The dev cut's six tickers, 13 weeks later, in StockNet's folder layout."""
    root = target / ROOT_NAME
    with tarfile.open(STOCKNET, "r|gz") as archive:
        for member in archive:
            parts = Path(member.name).parts
            relative = parts[1:] if parts[0] == ROOT_NAME else parts
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            if relative[:2] == ("price", "raw") and Path(relative[2]).stem in TICKERS:
                prices = pd.read_csv(io.BytesIO(handle.read()))
                prices["Date"] = prices["Date"].map(_later)
                (root / "price" / "raw").mkdir(parents=True, exist_ok=True)
                prices.to_csv(root / "price" / "raw" / relative[2], index=False)
            elif relative[:2] == ("tweet", "preprocessed") and len(relative) == 4 and relative[2] in TICKERS:
                tweets = [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]
                for tweet in tweets:
                    posted = datetime.strptime(tweet["created_at"], TWEET_TIME) + THIRTEEN_WEEKS
                    tweet["created_at"] = posted.strftime(TWEET_TIME)
                folder = root / "tweet" / "preprocessed" / relative[2]
                folder.mkdir(parents=True, exist_ok=True)
                (folder / _later(relative[3])).write_text("".join(json.dumps(t) + "\n" for t in tweets))
    return target


@pytest.fixture(scope="module")
def full_archive_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("stocknet_full")
    archive, home = shifted_archive(work / "archive"), work / "home"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("MMRISK_")}
    env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", SALT_VARIABLE: "stocknet-full-archive-test-salt",
                "MMRISK_START_DATE": "2015-01-01", "MMRISK_TEXT_ENCODER": "hashing"})
    done = make("demo-stocknet", work, env, f"STOCKNET={archive}", f"STOCKNET_HOME={home}", timeout=1800)
    return {"archive": archive, "home": home, "output": done.stdout + done.stderr,
            "store": ParquetWarehouse(home / "warehouse")}


def test_an_archive_with_the_test_quarter_gets_the_published_split(full_archive_run):
    store, output = full_archive_run["store"], full_archive_run["output"]
    # The gate may pass or block scoring on six tickers: either way the model was trained and judged.
    assert "model gate: " in output, output[-3000:]
    split = store.read_json("multitask_model")["split"]
    # Published: validation from 2015-06-01, dev (the gate) from 2015-08-01, test 2015-10-01..12-31,
    # each split starting on its first trading day after the 20-day embargo.
    assert split["validation"][0] == "2015-06-01" and split["gate"][0] == "2015-08-03"
    assert split["test"] == ["2015-10-01", "2015-12-30"]
    report = store.read_json("model_evaluation")
    assert report["primary_task"] == "movement" and report["gate"]["split"] == "gate"
    assert report["model"]["ensemble"]["movement"]["n"] > 0
    prices = store.read("prices")
    assert prices["date"].max() == pd.Timestamp("2015-12-30") and set(prices["entity_id"]) == TICKERS


def test_the_benchmark_reports_dev_on_the_gate_split_and_the_test_quarter(full_archive_run, tmp_path):
    """`benchmarks/real_data.py --stocknet <archive with the test quarter>` reports both the
    published dev months (the graph's gate split) and the test quarter; the dev cut, dev only."""
    out = tmp_path / "real_data.json"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("MMRISK_")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.real_data", "--stocknet", str(full_archive_run["archive"]),
         "--tweet-encoder", "hashing", "--seeds", "1", "--stocknet-home", str(tmp_path / "home"), "--out", str(out)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    stocknet = result["stocknet"]
    assert (stocknet["dev"]["split"], stocknet["test"]["split"]) == ("gate", "test")
    assert stocknet["split"]["test"] == ["2015-10-01", "2015-12-30"] and stocknet["test"]["rows"] > 0
    assert "| StockNet test | accuracy |" in result["markdown"] and "| StockNet dev | accuracy |" in result["markdown"]
    dev_cut = Namespace(stocknet=STOCKNET, stocknet_home=str(tmp_path), tweet_encoder="hashing")
    assert stocknet_environment(dev_cut)[1] == {"dev": "test"}
