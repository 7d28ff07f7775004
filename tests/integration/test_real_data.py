"""The real-data adapters and short versions of the published tasks, on `../shared/data`.

The datasets are not part of the repository; without the folder every test here skips and says so.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.ml.labels import DOWN_THRESHOLD, UP_THRESHOLD
from mmrisk_dagster.ml.real_data import (
    STOCKNET_FUSION,
    UCI_FUSION,
    credit_task,
    prepare_credit,
    prepare_stocknet,
    sentiment_task,
    stocknet_samples,
    stocknet_task,
)
from mmrisk_dagster.ml.sentiment import SentimentConfig
from mmrisk_dagster.ml.text import HashingEncoder, encode_texts
from mmrisk_dagster.sources import read_source_table
from mmrisk_dagster.sources.cleaning import clean
from tests import TEST_SALT
from mmrisk_dagster.sources.stocknet import load_stocknet

DATA = Path(__file__).parents[2] / ".." / "shared" / "data"
STOCKNET = DATA / "stocknet-dataset-dev.tar.gz"
PHRASEBANK = DATA / "financial_phrasebank" / "Sentences_50Agree_dev.txt"
UCI = DATA / "UCI_Credit_Card.csv"
ALL_DATES = (pd.Timestamp("1990-01-01"), pd.Timestamp("2100-01-01"))


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"real dataset {path.resolve()} not present (see ../shared/data/README.md)")


def read(kind: str, table: str, path: Path) -> pd.DataFrame:
    return read_source_table(kind, table, *ALL_DATES, path=str(path))


@pytest.fixture(scope="module")
def stocknet_clean():
    prices = clean("prices", read("stocknet", "prices", STOCKNET), TEST_SALT)
    social = clean("social", read("stocknet", "social", STOCKNET), TEST_SALT)
    return prices, social


@needs(STOCKNET)
def test_stocknet_adapter_reads_prices_tweets_and_sectors(stocknet_clean):
    raw_social = read("stocknet", "social", STOCKNET)
    prices, social = stocknet_clean
    assert len(raw_social) == 92_232 and read("stocknet", "news", STOCKNET).empty
    assert prices.clean["entity_id"].nunique() == 87
    # Every row is kept or quarantined: Yahoo's few bars whose high/low miss the close.
    assert len(prices.clean) + len(prices.rejected) == len(read("stocknet", "prices", STOCKNET))
    assert set(prices.rejected["reason"]) <= {"inconsistent_ohlc"} and len(prices.rejected) < 50
    # Every tweet is kept or quarantined: a few dozen carry C1 control characters (mojibake).
    assert len(social.clean) + len(social.rejected) == len(raw_social)
    assert set(social.rejected["reason"]) <= {"control_character"} and len(social.rejected) < 100
    # Author ids leave cleaning as keyed hashes, never as the Twitter ids.
    assert social.clean["author_id"].str.startswith("a_").all()
    assert not set(social.clean["author_id"]) & set(raw_social["author_id"])
    entities = load_stocknet(STOCKNET).entities
    assert len(entities) == 88 and entities["sector"].notna().all()
    # Adjusted close: AAPL's 7-for-1 split of June 2014 leaves no -85% day.
    aapl = prices.clean[prices.clean["entity_id"] == "AAPL"].sort_values("date")
    assert aapl["close"].pct_change().min() > -0.2


@needs(STOCKNET)
def test_stocknet_movement_labels_follow_the_paper(stocknet_clean):
    samples = stocknet_samples(stocknet_clean[0].clean)
    # The paper's dev set: 2,555 labelled samples with targets in August-September 2015.
    dev = samples["target_date"].between("2015-08-01", "2015-09-30") & samples["movement"].notna()
    assert dev.sum() == 2555
    up, down = samples["movement"] == 1, samples["movement"] == 0
    assert (samples.loc[up, "movement_pct"] > UP_THRESHOLD).all()
    assert (samples.loc[down, "movement_pct"] < DOWN_THRESHOLD).all()
    middle = samples["movement_pct"].between(DOWN_THRESHOLD, UP_THRESHOLD)
    assert samples.loc[middle, "movement"].isna().all() and middle.any()
    assert (samples["target_date"] > samples["date"]).all()


@needs(STOCKNET)
def test_stocknet_short_task(stocknet_clean):
    prices, social = (t.clean for t in stocknet_clean)
    some = sorted(prices["entity_id"].unique())[:12]
    prices, social = prices[prices["entity_id"].isin(some)], social[social["entity_id"].isin(some)]
    vectors, _ = encode_texts(social["text"].tolist(), HashingEncoder(), None)
    data = prepare_stocknet(prices, social, vectors)
    # The archive stops before the paper's test quarter: no test split is made up.
    assert "test" not in data.index and len(data.index["dev"]) > 200
    assert data.dims["prices"] == 5 * 5 and data.dims["social"] == 385
    train_rows = data.arrays.keys["date"].iloc[data.index["train"]]
    dev_rows = data.arrays.keys["date"].iloc[data.index["dev"]]
    # Rows are dated by their last input day: the trading day before the target day.
    assert train_rows.max() < pd.Timestamp("2015-06-01") and dev_rows.min() >= pd.Timestamp("2015-07-31")
    out = stocknet_task(data, seeds=[0], config=replace(STOCKNET_FUSION, epochs=1))
    assert set(out) >= {"dev", "fused", "prices_only", "hist_gbm", "majority_up"}
    assert 0.3 < out["up_share"]["dev"] < 0.6
    assert 0.3 < out["dev"]["accuracy"]["mean"] < 0.7 and -1 <= out["dev"]["mcc"]["mean"] <= 1


@needs(PHRASEBANK)
def test_phrasebank_adapter_and_short_sentiment_task():
    raw = read("phrasebank", "news", PHRASEBANK)
    news = clean("news", raw, TEST_SALT).clean
    assert len(raw) == 3893 and len(news) == len(raw)
    shares = news["sentiment_label"].value_counts(normalize=True)
    assert set(shares.index) == {"negative", "neutral", "positive"} and 0.5 < shares["neutral"] < 0.7
    sample = news.sample(frac=0.1, random_state=0)
    out = sentiment_task(sample, seeds=[0], config=SentimentConfig(trainable_layers=1, epochs=1))
    assert out["n_test"] == round(len(sample) * 0.2)
    # Even from 300 sentences MiniLM beats always answering "neutral" (59%).
    assert out["frozen_minilm_logreg"]["accuracy"] > 0.6
    assert out["accuracy"]["mean"] > 0.5 and 0 < out["macro_f1"]["mean"] <= 1


@needs(UCI)
def test_uci_credit_adapter_and_short_default_task():
    fundamentals = clean("fundamentals", read("uci_credit", "fundamentals", UCI), TEST_SALT).clean
    events = clean("events", read("uci_credit", "events", UCI), TEST_SALT).clean
    assert len(fundamentals) == 30_000 and len(events) == 6_636  # 22.1% defaults
    assert (events["event_date"] > fundamentals["available_at"].max()).all()
    clients = fundamentals.sample(6000, random_state=0)
    data = prepare_credit(clients, events[events["entity_id"].isin(clients["entity_id"])])
    assert len(data.index["test"]) == 1200 and abs(data.y[data.index["test"]].mean() - 0.221) < 0.02
    out = credit_task(data, seeds=[0], config=replace(UCI_FUSION, epochs=4))
    assert out["auc"]["mean"] > 0.6 and out["auc_logreg"]["mean"] > 0.6 and out["auc_hist_gbm"]["mean"] > 0.6
