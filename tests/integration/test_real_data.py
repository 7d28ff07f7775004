"""The real-data adapters, the movement labels, and short versions of the PhraseBank and UCI tasks,
on `../shared/data` (StockNet through the whole graph: test_stocknet_graph.py).

The datasets are not part of the repository; without the folder every test here skips and says so.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.ml.labels import DOWN_THRESHOLD, UP_THRESHOLD, build_labels
from mmrisk_dagster.ml.real_data import (
    UCI_FUSION,
    credit_task,
    prepare_credit,
    sentiment_codes,
    sentiment_cross_validation,
    sentiment_split,
    sentiment_task,
    sentence_texts,
)
from mmrisk_dagster.ml.sentiment import SentimentConfig, fine_tune_sentiment, frozen_bottom_states, predict_sentiment
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
def test_the_graphs_movement_labels_follow_the_paper(stocknet_clean):
    prices = stocknet_clean[0].clean
    no_events = pd.DataFrame(columns=["entity_id", "event_date", "event_type"])
    labels = build_labels(prices, no_events, None, horizon=5).sort_values(["entity_id", "date"])
    # A row dated t carries the movement of the next trading day (the paper's target day).
    target = labels.groupby("entity_id")["date"].shift(-1)
    # The paper's dev set: 2,555 labelled samples with targets in August-September 2015.
    dev = target.between("2015-08-01", "2015-09-30") & labels["movement"].notna()
    assert dev.sum() == 2555
    close = prices.sort_values(["entity_id", "date"]).set_index(["entity_id", "date"])["close"]
    next_return = close.groupby(level=0).shift(-1) / close - 1
    moved = labels.set_index(["entity_id", "date"])["movement"]
    assert (next_return[moved == 1] > UP_THRESHOLD).all() and (next_return[moved == 0] < DOWN_THRESHOLD).all()
    middle = next_return.between(DOWN_THRESHOLD, UP_THRESHOLD)
    assert moved[middle].isna().all() and middle.any()


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


@needs(PHRASEBANK)
def test_sentiment_cross_validation_never_reads_the_evaluation_sentences():
    news = clean("news", read("phrasebank", "news", PHRASEBANK), TEST_SALT).clean.sample(frac=0.1, random_state=0)
    config = SentimentConfig(trainable_layers=1, epochs=1)
    out = sentiment_cross_validation(news, config, folds=3)
    training, evaluation = sentiment_split(news)
    assert out["n"] == len(training) and len(out["held_out_accuracy_per_epoch"]) == 3
    assert 0.5 < out["accuracy"] <= 1
    # Whatever the evaluation sentences say, the selection figures are the same.
    garbled = news.assign(headline=news["headline"].where(~news["doc_id"].isin(evaluation["doc_id"]), "lorem ipsum"))
    assert sentiment_cross_validation(garbled, config, folds=3)["accuracy"] == out["accuracy"]


@needs(PHRASEBANK)
def test_a_separate_phrasebank_test_file_is_scored_without_the_sentences_training_holds(tmp_path):
    """`benchmarks/real_data.py --phrasebank-test FILE`, as with a held-out file: a file that
    repeats training sentences (the whole 50%-agreement set holds the dev ones) is scored on the
    others only, and a file of nothing but training sentences is refused."""
    import json
    import subprocess
    import sys

    lines = PHRASEBANK.read_bytes().decode("latin-1").splitlines()
    training, test = tmp_path / "train.txt", tmp_path / "test.txt"
    training.write_bytes("\n".join(lines[:300]).encode("latin-1"))
    test.write_bytes("\n".join(lines[200:400]).encode("latin-1"))
    out = tmp_path / "real_data.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.real_data", "--phrasebank", str(training), "--phrasebank-test", str(test),
         "--trainable-layers", "1", "--sentiment-epochs", "1", "--seeds", "1", "--out", str(out)],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())["phrasebank"]
    trained = {line.rpartition("@")[0].strip().lower() for line in lines[:300]}
    unseen = [line for line in lines[200:400] if line.rpartition("@")[0].strip().lower() not in trained]
    assert result["n_train"] == 300 and result["n_test"] == len(unseen) < 120
    assert result["n_test_also_in_training"] == 200 - len(unseen) and result["evaluated_on"] == str(test)
    news = clean("news", read("phrasebank", "news", training), TEST_SALT).clean
    with pytest.raises(ValueError, match="all 100 labelled evaluation sentences are also training sentences"):
        sentiment_split(news, news.iloc[200:])


@needs(PHRASEBANK)
def test_sentiment_keeps_the_last_epoch_unless_told_to_early_stop():
    """By default validation only watches: the last epoch is kept, whatever the validation labels
    say. With early stopping the epoch best on validation is kept, and no validation is an error."""
    news = clean("news", read("phrasebank", "news", PHRASEBANK), TEST_SALT).clean.sample(200, random_state=1)
    config = SentimentConfig(trainable_layers=1, epochs=3)
    states, y = frozen_bottom_states(sentence_texts(news), config), sentiment_codes(news)
    fit, held = slice(0, 150), slice(150, 200)

    def trained(config, validation_labels):
        curve: list[float] = []
        validation = None if validation_labels is None else (states[held], validation_labels)
        model = fine_tune_sentiment(states[fit], y[fit], config, 0, validation, lambda _, a: curve.append(a))
        proba = predict_sentiment(model, states[held])
        return proba, float((proba.argmax(1) == y[held]).mean()), curve

    last, accuracy, curve = trained(config, y[held])
    assert len(curve) == 3 and accuracy == curve[-1]
    np.testing.assert_array_equal(trained(config, None)[0], last)
    np.testing.assert_array_equal(trained(config, (y[held] + 1) % 3)[0], last)
    _, accuracy, curve = trained(replace(config, early_stopping=True), y[held])
    assert accuracy == max(curve)
    with pytest.raises(ValueError, match="early_stopping needs validation"):
        fine_tune_sentiment(states[fit], y[fit], replace(config, early_stopping=True), 0)


@needs(PHRASEBANK)
def test_the_zero_shot_tone_axis_ranks_positive_above_negative_sentences():
    """The tone in the text summaries is fitted on nothing: on sentences that people labelled it
    must still put the positive ones above the negative ones."""
    from sklearn.metrics import roc_auc_score

    from mmrisk_dagster.ml.minilm import MiniLMEncoder
    from mmrisk_dagster.ml.text import tone_axis

    news = clean("news", read("phrasebank", "news", PHRASEBANK), TEST_SALT).clean
    polar = news[news["sentiment_label"] != "neutral"].sample(600, random_state=0)
    encoder = MiniLMEncoder()
    tone = encoder.encode(polar["headline"].tolist()) @ tone_axis(encoder)
    assert roc_auc_score(polar["sentiment_label"] == "positive", tone) > 0.8


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
    # The stack leans on the trees, the stronger component on a flat record, and keeps its AUC.
    (weights,) = out["stack_weights"]
    assert weights["hist_gbm"] > weights["network"] > -0.5
    assert out["auc_stack"]["mean"] > out["auc_logreg"]["mean"]
    margin = out["stack_minus_hist_gbm"]
    assert margin["ci_low"] <= margin["margin"] <= margin["ci_high"] and margin["draws"] > 400
