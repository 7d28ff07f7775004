from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmrisk_dagster.ml.artifacts import load_multitask, load_shared_space, save_multitask, save_shared_space
from mmrisk_dagster.ml.evaluation import decision_thresholds, task_report
from mmrisk_dagster.ml.features import PRICE_WINDOW, price_vector_size
from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel, combine_losses, task_losses
from mmrisk_dagster.ml.inputs import PanelArrays, to_tensors
from mmrisk_dagster.ml.metrics import accuracy_threshold, binary_metrics
from mmrisk_dagster.ml.prediction import ensemble_predict, predict, sigmoid
from mmrisk_dagster.ml.scoring import score
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig, fit_on_training_window, retrieval_recall
from mmrisk_dagster.ml.splits import SplitSpec, chronological_split, split_index
from mmrisk_dagster.ml.training import LabelArrays, PreparedData, train_ensemble
from tests.unit.test_registry import NORMAL_VAR

DIMS = {"fundamentals": 7, "prices": price_vector_size(PRICE_WINDOW), "chart": 480, "news": 392, "social": 396}


def _arrays(n=120, seed=0, days=40):
    rng = np.random.default_rng(seed)
    keys = pd.DataFrame({"entity_id": [f"e{i % 6}" for i in range(n)], "date": pd.bdate_range("2024-01-01", periods=days).repeat(n // days + 1)[:n]})
    inputs = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items() if m != "chart"}
    inputs["chart"] = rng.integers(0, 256, size=(n, 480), dtype=np.uint8)
    present = rng.random((n, len(DIMS))) < 0.7
    present[:, 1] = True
    return PanelArrays(keys, inputs, present, present.copy(), rng.random((n, len(DIMS))).astype(np.float32), "mask")


def _labels(n, seed=0):
    rng = np.random.default_rng(seed)
    values = {
        "default": rng.integers(0, 2, n).astype(float),
        "log_forward_vol": rng.normal(size=n),
        "movement": np.full(n, np.nan),
        "sentiment": np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), np.nan),
    }
    return LabelArrays(values, 0.0, 1.0, np.full(n, np.nan))


def test_attention_ignores_absent_modalities_and_sums_to_one():
    arrays = _arrays()
    model = MultitaskFusionModel(DIMS, FusionConfig(frozen_modalities=()))
    out = predict(model, arrays)
    attention = out["attention"]
    np.testing.assert_allclose(attention.sum(axis=1), 1, rtol=1e-5)
    assert (attention[~arrays.attend] == 0).all()


def test_cross_modal_policy_attends_to_imputed_tokens():
    arrays = _arrays()
    model = MultitaskFusionModel(DIMS, FusionConfig(policy="cross_modal", frozen_modalities=()))
    attention = predict(model, arrays)["attention"]
    assert (attention[~arrays.attend] > 0).all()


def test_losses_skip_tasks_without_labels_and_weights_apply():
    model = MultitaskFusionModel(DIMS, FusionConfig(frozen_modalities=(), task_weights={"default": 2.0, "log_forward_vol": 0.0, "movement": 1.0, "sentiment": 0.0}))
    arrays = _arrays(40)
    labels = _labels(40)
    batch = to_tensors(arrays)
    losses = task_losses(model(batch, batch["attend"]), labels.batch(np.arange(40)))
    assert "movement" not in losses and {"default", "log_forward_vol", "sentiment"} <= set(losses)
    assert torch.isclose(combine_losses(model, losses), 2.0 * losses["default"])


def test_wide_term_is_zero_where_a_modality_is_absent_or_dropped():
    arrays = _arrays()
    model = MultitaskFusionModel(DIMS, FusionConfig())
    batch = to_tensors(arrays)
    model.fit_wide_scaling(batch)
    for layer in model.wide.values():
        torch.nn.init.ones_(layer.weight)
    torch.nn.init.ones_(model.availability)
    dropped = batch["attend"].clone()
    dropped[::2, 0] = False
    wide = model.wide_logits(batch, dropped).detach().numpy()
    seen = dropped.numpy() & arrays.present
    assert (wide[~seen] == 0).all()
    assert set(model.wide) == {"fundamentals", "prices", "news", "social"}  # charts are frozen tokens
    assert (wide[:, 2] == 0).all() and (wide[seen[:, 0], 0] != 0).all()


def test_wide_scaling_standardizes_on_present_rows():
    arrays = _arrays(400)
    arrays.inputs["fundamentals"] = arrays.inputs["fundamentals"] * 5 + 3
    model = MultitaskFusionModel(DIMS, FusionConfig())
    batch = to_tensors(arrays)
    model.fit_wide_scaling(batch)
    present = arrays.present[:, 0]
    standardized = (arrays.inputs["fundamentals"][present] - model.wide_mean_fundamentals.numpy()) / model.wide_scale_fundamentals.numpy()
    np.testing.assert_allclose(standardized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(standardized.std(axis=0, ddof=1), 1, atol=1e-3)


def test_scores_split_the_default_logit_into_additive_modality_parts():
    arrays = _arrays(300)
    torch.manual_seed(0)
    model = MultitaskFusionModel(DIMS, FusionConfig())
    model.fit_wide_scaling(to_tensors(arrays))
    # Weights shrink with each summary's width: a saturated float32 probability has no logit to split.
    for layer in model.wide.values():
        torch.nn.init.normal_(layer.weight, std=1.5 / np.sqrt(layer.in_features))
    torch.nn.init.normal_(model.availability, std=0.5)
    card = {"calibrator": {"method": "platt", "a": 1.0, "b": 0.0}, "vol_mean": 0.0, "vol_std": 1.0, "var_multipliers": NORMAL_VAR, "version": "v"}
    scores = score([model], arrays, card)
    columns = [f"default_logit_{m}" for m in model.wide]
    assert columns == [c for c in scores if c.startswith("default_logit_")]
    contributions = scores[columns].to_numpy()
    p = scores["default_score_raw"].to_numpy(dtype=float)
    for layer in model.wide.values():
        torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(model.availability)
    deep = predict(model, arrays)["default"]
    # The columns are exactly what the wide term added to the default logit.
    np.testing.assert_allclose(np.log(p / (1 - p)) - contributions.sum(axis=1), deep, atol=1e-3)
    names = np.asarray(list(model.wide), dtype=object)
    expected = np.where(contributions.max(axis=1) > 0, names[contributions.argmax(axis=1)], None)
    assert list(scores["top_default_driver"]) == list(expected)
    assert scores["top_default_driver"].isna().any() and scores["top_default_driver"].notna().any()


def test_wide_term_learns_a_planted_monotone_signal_within_two_epochs():
    n = 2400
    arrays = _arrays(n, days=240)
    arrays.present[:, 0] = True
    arrays.attend[:, 0] = True
    rng = np.random.default_rng(1)
    labels = _labels(n)
    risk = arrays.inputs["fundamentals"][:, 0] + 0.3 * rng.normal(size=n)
    labels.values["default"] = (risk > 1.0).astype(float)
    # The planted label looks no day ahead: no embargo is needed.
    split = chronological_split(arrays.keys["date"], SplitSpec(0.6, 0.2, 0.1, 0))
    index = split_index(arrays.keys, split)
    test = np.concatenate([index["gate"], index["test"]])  # rows nothing was fitted on
    aucs, models = {}, {}
    for wide in (True, False):
        config = FusionConfig(epochs=2, batch_size=64, task_weights={"default": 1.0}, wide=wide)
        models[wide] = train_ensemble(arrays, labels, index, DIMS, config, [0])[0][0]
        p = sigmoid(predict(models[wide], arrays.subset(test))["default"])
        aucs[wide] = binary_metrics(labels.values["default"][test], p)["auc"]
    # The same seed without the wide term learns the same signal more slowly.
    assert aucs[True] > 0.9 and aucs[True] > aucs[False] + 0.01
    weights = models[True].wide["fundamentals"].weight.detach().numpy()[0]
    # Every other wide input (the other filing features, the window moments, the text summaries)
    # is noise here: the planted one has the largest weight of all, by half again at least.
    others = [np.abs(weights[1:]).max()] + [
        np.abs(layer.weight.detach().numpy()).max() for m, layer in models[True].wide.items() if m != "fundamentals"
    ]
    assert weights[0] > 1.5 * max(others)


def test_the_wide_term_learns_that_falling_silent_is_a_risk():
    n = 2400
    arrays = _arrays(n, days=240)
    rng = np.random.default_rng(2)
    labels = _labels(n)
    # Default is planted on the absence of news alone: no content, only missingness.
    news = list(DIMS).index("news")
    labels.values["default"] = (rng.random(n) < np.where(arrays.present[:, news], 0.05, 0.6)).astype(float)
    split = chronological_split(arrays.keys["date"], SplitSpec(0.6, 0.2, 0.1, 0))
    index = split_index(arrays.keys, split)
    config = FusionConfig(epochs=2, batch_size=64, task_weights={"default": 1.0}, modality_dropout=0.0)
    model = train_ensemble(arrays, labels, index, DIMS, config, [0])[0][0]
    held_out = np.concatenate([index["gate"], index["test"]])
    auc = binary_metrics(labels.values["default"][held_out], sigmoid(predict(model, arrays.subset(held_out))["default"]))["auc"]
    assert auc > 0.75, auc
    offsets = model.availability[:, 0].detach().numpy()
    others = np.delete(offsets, news)
    assert offsets[news] < -0.1 and offsets[news] < 1.5 * others.min(), f"news being there lowers the log-odds: {offsets}"


def test_training_is_seeded_and_uses_only_train_and_validation_rows():
    arrays = _arrays(240, days=60)
    labels = _labels(240)
    split = chronological_split(arrays.keys["date"], SplitSpec(0.4, 0.2, 0.2, 3))
    index = split_index(arrays.keys, split)
    config = FusionConfig(epochs=2, batch_size=64)
    first, _ = train_ensemble(arrays, labels, index, DIMS, config, [0])
    # Scramble everything in the gate and test splits: the trained weights must not move.
    untouched = np.concatenate([index["gate"], index["test"]])
    scrambled = arrays.subset(np.arange(len(arrays)))
    for values in scrambled.inputs.values():
        values[untouched] = values[untouched][::-1] * 3
    for values in labels.values.values():
        values[untouched] = 1.0
    second, _ = train_ensemble(scrambled, labels, index, DIMS, config, [0])
    for a, b in zip(first[0].state_dict().values(), second[0].state_dict().values()):
        assert torch.equal(a, b)


def test_without_defaults_the_epoch_is_chosen_on_validation_movement_auc():
    arrays = _arrays(240, days=60)
    labels = _labels(240)
    labels.values["default"][:] = np.nan
    labels.values["movement"] = np.random.default_rng(3).integers(0, 2, 240).astype(float)
    split = chronological_split(arrays.keys["date"], SplitSpec(0.4, 0.2, 0.2, 3))
    index = split_index(arrays.keys, split)
    (model,), (history,) = train_ensemble(arrays, labels, index, DIMS, FusionConfig(epochs=3, batch_size=64), [0])
    validation = index["validation"][arrays.attend[index["validation"]].any(axis=1)]
    auc = binary_metrics(
        labels.values["movement"][validation], sigmoid(predict(model, arrays.subset(validation))["movement"])
    )["auc"]
    # The kept epoch is the one with the best validation movement AUC (a loss would be negative).
    assert max(r["validation_score"] for r in history) == pytest.approx(auc, abs=1e-6)
    assert all(0 <= r["validation_score"] <= 1 for r in history)


def test_accuracy_threshold_finds_a_planted_cut():
    p = np.random.default_rng(0).random(2000)
    y = (p >= 0.7).astype(float)
    assert accuracy_threshold(y, p) == pytest.approx(0.7, abs=0.03)
    assert accuracy_threshold(np.ones(50), p[:50]) == p[:50].min(), "all positive: cut below every score"


def test_decision_thresholds_come_from_validation_and_never_from_the_scored_split():
    arrays = _arrays(240, days=60)
    labels = _labels(240)
    labels.values["movement"] = np.random.default_rng(4).integers(0, 2, 240).astype(float)
    split = chronological_split(arrays.keys["date"], SplitSpec(0.4, 0.2, 0.2, 3))
    index = split_index(arrays.keys, split)
    data = PreparedData(arrays, split, index, labels)
    models, _ = train_ensemble(arrays, labels, index, DIMS, FusionConfig(epochs=1, batch_size=64), [0])
    calibrator = {"method": "platt", "a": 1.0, "b": 0.0}
    thresholds = decision_thresholds(models, data, calibrator)
    assert thresholds["default"] == pytest.approx(np.mean(labels.values["default"][index["validation"]]))
    test = index["test"]
    report = task_report(ensemble_predict(models, arrays.subset(test)), labels, test, calibrator, thresholds)
    assert report["movement"]["threshold"] == thresholds["movement"]
    labels.values["movement"][test] = 1.0  # the scored split's labels move; the cut must not
    assert decision_thresholds(models, data, calibrator) == thresholds


def test_chronological_split_keeps_order_and_embargo():
    dates = pd.bdate_range("2024-01-01", periods=100)
    split = chronological_split(dates, SplitSpec(0.5, 0.2, 0.1, 5))
    assert list(split) == ["train", "validation", "gate", "test"]
    # The embargo drops the last 5 dates before each boundary: 50 - 5, 20 - 5, 10 - 5, the rest.
    assert [len(v) for v in split.values()] == [45, 15, 5, 20]
    for earlier, later in zip(["train", "validation", "gate"], ["validation", "gate", "test"]):
        assert dates.get_loc(split[later][0]) - dates.get_loc(split[earlier][-1]) == 6
    with pytest.raises(ValueError, match="the gate split is empty: 30 dates .* embargo"):
        chronological_split(dates[:30], SplitSpec(0.5, 0.2, 0.1, 5))


def test_split_by_dates_purges_before_each_boundary_and_ends_test():
    dates = pd.bdate_range("2015-01-01", "2016-03-31")
    spec = SplitSpec(embargo_days=2, boundaries=("2015-06-01", "2015-08-03", "2015-10-01", "2016-01-01"))
    split = chronological_split(dates, spec)
    assert split["train"][0] == dates[0] and split["train"][-1] == pd.Timestamp("2015-05-27")
    assert split["validation"][0] == pd.Timestamp("2015-06-01") and split["validation"][-1] == pd.Timestamp("2015-07-29")
    assert split["gate"][0] == pd.Timestamp("2015-08-03") and split["gate"][-1] == pd.Timestamp("2015-09-28")
    assert split["test"][0] == pd.Timestamp("2015-10-01") and split["test"][-1] == pd.Timestamp("2015-12-31")
    # Data that ends before the test period: the message names the split, the dates and the fix.
    with pytest.raises(ValueError, match=r"the test split is empty: 195 dates \(2015-01-01..2015-09-30\).*MMRISK_SPLIT_DATES"):
        chronological_split(dates[dates < "2015-10-01"], spec)
    with pytest.raises(ValueError, match="must increase"):
        SplitSpec(boundaries=("2015-08-01", "2015-06-01", "2015-10-01"))


def test_shared_space_is_fitted_on_training_rows_only_and_round_trips(tmp_path):
    arrays = _arrays(200)
    train, held_out = np.arange(120), np.arange(120, 200)
    config = SharedSpaceConfig(epochs=1, batch_size=64)
    model, history, retrieval = fit_on_training_window(arrays, DIMS, train, held_out, config)
    scrambled = arrays.subset(np.arange(len(arrays)))
    for values in scrambled.inputs.values():
        values[held_out] = 0
    again, _, _ = fit_on_training_window(scrambled, DIMS, train, held_out, config)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    card = save_shared_space(tmp_path, model, config.to_dict(), {"retrieval": retrieval})
    loaded = load_shared_space(card)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert len(history) == 1 and 0 <= retrieval["mean_recall"] <= 1


def test_retrieval_recall_is_one_for_identical_vectors_and_near_random_for_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 16)).astype(np.float32)
    present = np.ones((400, 2), bool)
    perfect = retrieval_recall({"a": base, "b": base}, present, ["a", "b"], k=10, pool=400)
    assert perfect["mean_recall"] == 1.0
    noise = retrieval_recall({"a": base, "b": rng.normal(size=(400, 16)).astype(np.float32)}, present, ["a", "b"], k=10, pool=400)
    assert noise["mean_recall"] < 5 * noise["mean_random"]


def test_multitask_models_round_trip_without_pickle(tmp_path):
    arrays = _arrays()
    models = [MultitaskFusionModel(DIMS, FusionConfig()) for _ in range(2)]
    card = save_multitask(tmp_path, models, FusionConfig(), {"calibrator": {"method": "platt", "a": 1.0, "b": 0.0}, "vol_mean": 0.0, "vol_std": 1.0, "var_multipliers": NORMAL_VAR})
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))
    for original, loaded in zip(models, load_multitask(card)):
        np.testing.assert_allclose(predict(original, arrays)["default"], predict(loaded, arrays)["default"], rtol=1e-6)


def test_similarity_search_finds_the_cross_modal_match():
    from mmrisk_dagster.ml.shared_space import similar_entity_dates

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    frame = pd.DataFrame(
        {
            "entity_id": [f"e{i}" for i in range(6)],
            "date": pd.to_datetime(["2024-01-02"] * 6),
            "news_shared": list(vectors),
            "news_present": [True] * 6,
            "prices_shared": list(rng.normal(size=(6, 8)).astype(np.float32)),
            "prices_present": [True, True, True, True, False, True],
        }
    )
    frame.at[3, "prices_shared"] = vectors[0] * 2  # e3's prices point where e0's news does
    frame["fused_shared"] = [(a + b) / 2 for a, b in zip(frame["news_shared"], frame["prices_shared"])]
    found = similar_entity_dates(frame, "e0", "2024-01-02", query="news", against="prices", top=3)
    assert found["entity_id"].iloc[0] == "e3" and found["similarity"].iloc[0] == pytest.approx(1.0)
    assert "e4" not in set(found["entity_id"]), "rows without the searched modality are skipped"
    assert "e0" not in set(found["entity_id"]), "the query itself is not a result"
    with pytest.raises(KeyError):
        similar_entity_dates(frame, "e9", "2024-01-02")


def test_a_crippled_model_fails_the_gate_against_real_baselines():
    from mmrisk_dagster.ml.evaluation import evaluate, gate_decision
    from mmrisk_dagster.ml.training import PreparedData

    arrays = _arrays(600, days=100)
    # Default depends on one fundamental: the tabular baseline can see it, an untrained model cannot.
    values = {
        "default": (arrays.inputs["fundamentals"][:, 0] > 0.5).astype(float),
        "log_forward_vol": np.full(600, np.nan),
        "movement": np.full(600, np.nan),
        "sentiment": np.full(600, np.nan),
    }
    labels = LabelArrays(values, 0.0, 1.0, np.full(600, np.nan))
    split = chronological_split(arrays.keys["date"], SplitSpec(0.5, 0.1, 0.1, 2))
    data = PreparedData(arrays, split, split_index(arrays.keys, split), labels)
    crippled = FusionConfig(epochs=1, lr=1e-9, batch_size=4096)
    models, _ = train_ensemble(arrays, labels, data.index, DIMS, crippled, [0])
    report = evaluate(models, data, {"method": "platt", "a": 1.0, "b": 0.0}, ["word"] * 600, [0])
    gate = gate_decision(report["gate_inputs"], tolerance=0.05)
    assert report["gate_inputs"]["best_baseline"] in {"hist_gbm", "linear_svm"}
    assert set(report["baselines"]) == {"hist_gbm", "tfidf_logreg", "linear_svm"}
    assert report["gate_inputs"]["best_baseline_auc"] > 0.9
    assert not gate["passed"] and gate["margin"] < -0.05
    from mmrisk_dagster.demo import gate_lines

    printed = "\n".join(gate_lines(gate))
    assert "FAILED on the gate split (default AUC)" in printed and f"margin {gate['margin']:+.4f}" in printed
    assert f"| {gate['best_baseline']} | {gate['best_baseline_auc']:.4f} |" in printed and "| tfidf_logreg |" in printed
    # The gate reads the gate split alone: flipping every test label moves the test figures only.
    test_rows = np.isin(np.arange(600), data.index["test"])
    flipped = LabelArrays({**values, "default": np.where(test_rows, 1 - values["default"], values["default"])}, 0.0, 1.0, labels.next_return)
    again = evaluate(models, PreparedData(arrays, split, data.index, flipped), {"method": "platt", "a": 1.0, "b": 0.0}, ["word"] * 600, [0])
    assert again["gate_inputs"] == report["gate_inputs"]
    # The cut metrics with their uncertainty are the ensemble's at the validation cut, split by split.
    for split, cut in report["cut_metrics"].items():
        figures = report["model"]["ensemble" if split == "test" else split]["default"]
        assert cut["accuracy"] == pytest.approx(figures["accuracy"]) and cut["mcc"] == pytest.approx(figures["mcc"])
        assert cut["accuracy_std_error"] > 0
    assert again["baselines"]["hist_gbm"]["test"]["mean"] < 0.1 < report["baselines"]["hist_gbm"]["test"]["mean"]


def test_training_window_takes_dates_and_refuses_an_embargo_shorter_than_the_horizon(monkeypatch):
    from mmrisk_dagster.resources import TrainingWindowResource
    from mmrisk_dagster.settings import STOCKNET_SPLIT_DATES, Settings

    spec = TrainingWindowResource(split_dates=["2015-06-01", "2015-08-01", "2015-10-01"], horizon_days=5).split_spec()
    assert spec.boundaries == ("2015-06-01", "2015-08-01", "2015-10-01") and spec.embargo_days == 5
    with pytest.raises(ValueError, match="embargo_days=2 is shorter than horizon_days=5"):
        TrainingWindowResource(horizon_days=5, embargo_days=2).split_spec()
    monkeypatch.setenv("MMRISK_SOURCE", "stocknet")
    monkeypatch.delenv("MMRISK_SPLIT_DATES", raising=False)
    monkeypatch.delenv("MMRISK_START_DATE", raising=False)
    monkeypatch.delenv("MMRISK_END_DATE", raising=False)
    settings = Settings.from_env()
    assert settings.split_dates == STOCKNET_SPLIT_DATES
    assert (str(settings.start_date), str(settings.end_date)) == ("2014-01-01", "2015-12-31")
    monkeypatch.setenv("MMRISK_SPLIT_DATES", "")
    assert Settings.from_env().split_dates == ()


def test_a_stocknet_archive_gets_the_split_its_dates_allow(monkeypatch, tmp_path):
    """A dev cut (prices to 2015-09-30) is split inside itself with the paper's dev months as test;
    an archive into the test quarter gets the published split; a user's dates win over both."""
    from mmrisk_dagster.settings import DEV_ARCHIVE_SPLIT_DATES, STOCKNET_SPLIT_DATES, Settings

    def archive(name: str, last: str) -> Path:
        prices = tmp_path / name / "stocknet-dataset" / "price" / "raw"
        prices.mkdir(parents=True)
        days = pd.bdate_range("2015-01-02", last)
        pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Open": 1.0, "High": 1.0, "Low": 1.0, "Close": 1.0,
                      "Adj Close": 1.0, "Volume": 10}).to_csv(prices / "AAA.csv", index=False)
        pd.DataFrame({"Date": ["2015-01-02"], "Open": [1.0], "High": [1.0], "Low": [1.0], "Close": [1.0],
                      "Adj Close": [1.0], "Volume": [10]}).to_csv(prices / "BBB.csv", index=False)
        return tmp_path / name

    for variable in ("MMRISK_SPLIT_DATES", "MMRISK_START_DATE", "MMRISK_END_DATE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MMRISK_SOURCE", "stocknet")
    monkeypatch.setenv("MMRISK_SOURCE_PATH", str(archive("dev", "2015-09-30")))
    dev = Settings.from_env()
    assert (str(dev.end_date), dev.split_dates) == ("2015-09-30", DEV_ARCHIVE_SPLIT_DATES)
    monkeypatch.setenv("MMRISK_SOURCE_PATH", str(archive("full", "2015-12-31")))
    full = Settings.from_env()
    assert (str(full.end_date), full.split_dates) == ("2015-12-31", STOCKNET_SPLIT_DATES)
    monkeypatch.setenv("MMRISK_SPLIT_DATES", "2015-05-01,2015-07-01,2015-09-01")
    monkeypatch.setenv("MMRISK_END_DATE", "2015-11-30")
    chosen = Settings.from_env()
    assert (str(chosen.end_date), chosen.split_dates) == ("2015-11-30", ("2015-05-01", "2015-07-01", "2015-09-01"))
    # Unreadable: the published defaults, and the raw assets' preflight names the file later.
    monkeypatch.delenv("MMRISK_SPLIT_DATES")
    monkeypatch.delenv("MMRISK_END_DATE")
    monkeypatch.setenv("MMRISK_SOURCE_PATH", str(tmp_path / "missing.tar.gz"))
    assert Settings.from_env().split_dates == STOCKNET_SPLIT_DATES


def test_platt_calibration_is_monotone_and_matches_observed_rates():
    from mmrisk_dagster.ml.prediction import apply_calibrator, fit_calibrator

    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 0.6, 20_000)
    truth = rng.random(20_000) < scores / 3  # the raw score overstates risk threefold
    calibrator = fit_calibrator(truth.astype(float), scores)
    calibrated = apply_calibrator(calibrator, np.sort(scores))
    assert (np.diff(calibrated) >= 0).all()
    assert abs(apply_calibrator(calibrator, scores).mean() - truth.mean()) < 0.005
    assert apply_calibrator(calibrator, np.array([0.45]))[0] < 0.3


def test_the_bootstraps_auc_equals_sklearns_weighted_auc_with_ties():
    from sklearn.metrics import roc_auc_score

    from mmrisk_dagster.ml.metrics import RankedScores

    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.2).astype(float)
    scores = np.round(rng.normal(size=3000) + y, 1)  # rounded: many ties, within and across classes
    ranked = RankedScores(y, scores)
    for _ in range(20):
        weight = rng.poisson(1.0, 3000) * rng.poisson(1.0, 3000)  # zeros included: rows not drawn
        assert ranked.weighted_auc(weight) == pytest.approx(roc_auc_score(y, scores, sample_weight=weight), abs=1e-12)
    assert ranked.weighted_auc(np.ones(3000)) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_clustered_bootstrap_separates_a_real_margin_from_none():
    from mmrisk_dagster.ml.metrics import clustered_auc_margin

    rng = np.random.default_rng(0)
    entities = np.repeat(np.arange(40), 50)
    risk = rng.normal(size=40)[entities]  # risk is an entity trait: rows of one entity move together
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * risk - 2)))).astype(float)
    sharp = risk + rng.normal(0, 0.3, 2000)
    blurred = sharp + rng.normal(0, 1.0, 40)[entities]  # wrong about whole entities
    better = clustered_auc_margin(y, sharp, blurred, {"entity": entities}, draws=200)
    assert better["margin"] > 0.05 and better["distinguishable_from_zero"] and better["ci_low"] > 0
    same = clustered_auc_margin(y, sharp, sharp + 1.0, {"entity": entities}, draws=200)  # same ranking
    assert same["margin"] == pytest.approx(0.0) and not same["distinguishable_from_zero"]
    # Resampling rows instead of entities would treat 2,000 correlated rows as independent.
    rows = clustered_auc_margin(y, sharp, blurred, {"row": np.arange(2000)}, draws=200)
    assert better["std_error"] > 1.5 * rows["std_error"]


def test_the_bootstrap_resamples_market_days_as_well_as_entities():
    """Twelve stocks on forty days, where one model is right or wrong about the whole market on a
    day: the day, not the stock, is what repeats, and only resampling dates sees it."""
    from mmrisk_dagster.ml.metrics import clustered_auc_margin

    rng = np.random.default_rng(2)
    entities, dates = np.tile(np.arange(12), 40), np.repeat(np.arange(40), 12)
    market = rng.normal(size=40)[dates]
    y = (market + rng.normal(0, 0.5, 480) > 0).astype(float)
    luck = rng.choice([-1.0, 1.0], size=40)[dates]  # this model calls each day's market right or wrong
    model, other = luck * market + rng.normal(0, 0.5, 480), rng.normal(0, 1, 480)
    both = clustered_auc_margin(y, model, other, {"entity": entities, "date": dates}, draws=300)
    entity_only = clustered_auc_margin(y, model, other, {"entity": entities}, draws=300)
    assert both["clusters"] == {"entity": 12, "date": 40}
    assert both["std_error"] > 2 * entity_only["std_error"]


def test_cut_metrics_match_sklearn_and_their_uncertainty_is_that_of_the_days():
    """Forty market days on which every stock moves with the market: a model that calls the
    market right on some days is right about whole days, so its accuracy varies like forty coin
    flips, and the bootstrap over dates says so where one over rows would not."""
    from sklearn.metrics import accuracy_score, matthews_corrcoef

    from mmrisk_dagster.ml.metrics import clustered_cut_metrics, weighted_cut_metrics

    rng = np.random.default_rng(4)
    entities, dates = np.tile(np.arange(60), 40), np.repeat(np.arange(40), 60)
    market = rng.normal(size=40)[dates]
    y = (market + rng.normal(0, 0.3, 2400) > 0).astype(float)
    p = 1 / (1 + np.exp(-(rng.choice([-1.0, 1.0], size=40)[dates] * market)))
    weight = rng.poisson(1.0, 2400).astype(float)
    hard = (p >= 0.5).astype(float)
    cut = weighted_cut_metrics(y, hard, weight)
    assert cut["accuracy"] == pytest.approx(accuracy_score(y, hard, sample_weight=weight), abs=1e-12)
    assert cut["mcc"] == pytest.approx(matthews_corrcoef(y, hard, sample_weight=weight), abs=1e-12)
    by_days = clustered_cut_metrics(y, p, 0.5, {"entity": entities, "date": dates}, draws=300)
    by_rows = clustered_cut_metrics(y, p, 0.5, {"row": np.arange(2400)}, draws=300)
    assert by_days["accuracy"] == pytest.approx(accuracy_score(y, hard))
    assert by_days["majority_class_accuracy"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert by_days["clusters"] == {"entity": 60, "date": 40}
    assert by_days["accuracy_std_error"] > 0.05  # about sqrt(0.25 / 40): forty days, not 2,400 rows
    assert by_days["accuracy_std_error"] > 4 * by_rows["accuracy_std_error"]


def test_comparison_table_names_the_best_alternative_and_its_margin():
    from mmrisk_dagster.ml.metrics import compare_aucs

    rng = np.random.default_rng(1)
    entities = np.repeat(np.arange(60), 30)
    risk = rng.normal(size=60)[entities] + rng.normal(0, 0.5, 1800)
    y = (rng.random(1800) < 1 / (1 + np.exp(-(2 * risk - 2)))).astype(float)
    scores = {"fused": risk, "good": risk + rng.normal(0, 1.0, 1800), "poor": rng.normal(size=1800)}
    table = compare_aucs(y, scores, {"entity": entities}, "fused", draws=200)
    assert table["best_alternative"] == "good" and table["positives"] == int(y.sum())
    assert table["clusters"] == {"entity": 60}
    assert table["margin"]["margin"] == pytest.approx(table["models"]["fused"]["auc"] - table["models"]["good"]["auc"])
    assert table["margin"]["distinguishable_from_zero"] and table["margin"]["ci_low"] > 0
    assert all(0 < m["std_error"] < 0.1 for m in table["models"].values())
