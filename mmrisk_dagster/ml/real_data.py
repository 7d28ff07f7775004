"""The published tasks on the real datasets that a daily graph cannot hold, run on the pipeline's
cleaned tables: PhraseBank's sentences carry no date, and UCI's clients are one snapshot.
(StockNet has dates, so it runs through the Dagster graph itself: `benchmarks/real_data.py`.)

* Financial PhraseBank: 3-class sentence sentiment on a fixed seeded, stratified 80/20 split.
* UCI credit default: default next month on a fixed seeded, stratified 80/20 split; the fusion
  model alone and stacked with trees (`ml.stacking`).

Each `*_task` function trains one model per seed with the project's model code (the fusion
model of `ml.fusion` through `ml.training`, the fine-tuned encoder of `ml.sentiment`) and the
baselines of `ml.baselines` on the same split, and returns per-seed metrics plus the
seed-ensemble's. Nothing here reads files: the benchmark and tests feed cleaned tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from mmrisk_dagster.ml.baselines import fit_hist_gbm, fit_logistic_regression, fit_tfidf_logreg
from mmrisk_dagster.ml.features import fundamentals_asof
from mmrisk_dagster.ml.fusion import TASKS, FusionConfig
from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.metrics import clustered_auc_margin, mean_std, multiclass_metrics
from mmrisk_dagster.ml.prediction import ensemble_predict
from mmrisk_dagster.ml.sentiment import (
    SentimentConfig,
    fine_tune_sentiment,
    frozen_bottom_states,
    predict_sentiment,
    pretrained_sentence_vectors,
)
from mmrisk_dagster.ml.stacking import LogitStack
from mmrisk_dagster.ml.training import LabelArrays, train_multitask
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns
from mmrisk_dagster.sources.contract import SENTIMENT_LABELS

Progress = Callable[[str], None]
SPLIT_SEED = 0  # the fixed split of PhraseBank and UCI credit; model seeds vary, the split not


def _quiet(_: str) -> None:
    return None


def single_task_labels(n: int, task: str, values: np.ndarray) -> LabelArrays:
    """Labels for one task; the other heads see only NaN and contribute no loss."""
    labels = {t: np.full(n, np.nan) for t in TASKS}
    labels[task] = np.asarray(values, dtype=float)
    return LabelArrays(labels, vol_mean=0.0, vol_std=1.0, next_return=np.full(n, np.nan))


def dense_arrays(keys: pd.DataFrame, inputs: dict[str, np.ndarray]) -> PanelArrays:
    """Arrays for a panel whose every modality is observed on every row (a cross-section)."""
    n, m = len(keys), len(inputs)
    return PanelArrays(
        keys.reset_index(drop=True),
        {k: v.astype(np.float32) for k, v in inputs.items()},
        np.ones((n, m), bool),
        np.ones((n, m), bool),
        np.zeros((n, m), np.float32),
        "mask",
    )


def _summary(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)] if runs else []
    return {k: mean_std([r[k] for r in runs]) for k in keys}


# --- Financial PhraseBank sentiment -------------------------------------------------------------


def sentiment_codes(news: pd.DataFrame) -> np.ndarray:
    return news["sentiment_label"].map({label: i for i, label in enumerate(SENTIMENT_LABELS)}).to_numpy()


def sentence_texts(news: pd.DataFrame) -> list[str]:
    return (news["headline"] + ". " + news["body"].fillna("")).str.strip(" .").tolist()


def _labelled(news: pd.DataFrame) -> pd.DataFrame:
    return news[news["sentiment_label"].isin(SENTIMENT_LABELS)].reset_index(drop=True)


def _normalized(texts: list[str]) -> list[str]:
    return [" ".join(text.lower().split()) for text in texts]


def sentiment_split(news: pd.DataFrame, test_news: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and evaluation sentences: the fixed seeded, stratified 80/20 split of `news`, or
    all of `news` against a separate `test_news` less any sentence that is also in `news` (a whole
    PhraseBank file holds the dev sentences too; scoring them would score memory). Unlabelled
    sentences are left out."""
    news = _labelled(news)
    if test_news is not None:
        evaluation = _labelled(test_news)
        seen = set(_normalized(sentence_texts(news)))
        unseen = np.array([text not in seen for text in _normalized(sentence_texts(evaluation))], dtype=bool)
        if not unseen.any():
            raise ValueError(
                f"all {len(evaluation)} labelled evaluation sentences are also training sentences: "
                "evaluate on a file that holds sentences the training file does not"
            )
        return news, evaluation[unseen].reset_index(drop=True)
    train_rows, test_rows = train_test_split(
        np.arange(len(news)), test_size=0.2, random_state=SPLIT_SEED, stratify=sentiment_codes(news)
    )
    return news.iloc[train_rows].reset_index(drop=True), news.iloc[test_rows].reset_index(drop=True)


def sentiment_cross_validation(
    news: pd.DataFrame, config: SentimentConfig, folds: int = 5, seed: int = 0, progress: Progress = _quiet
) -> dict:
    """Out-of-fold accuracy and macro F1 of `config` on the training sentences of the fixed split,
    with each fold's held-out accuracy per epoch (with `config.early_stopping` each fold's model
    is early-stopped on its own held-out fold, which flatters the figure). The evaluation sentences
    are never read: this is how configurations are compared before the one reported is chosen (a
    10% selection split of ~300 sentences cannot tell them apart)."""
    news, _ = sentiment_split(news)
    y = sentiment_codes(news)
    states = frozen_bottom_states(sentence_texts(news), config)
    out_of_fold = np.zeros((len(y), 3), dtype=np.float32)
    selection_curves = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SPLIT_SEED)
    for fold, (fit, held) in enumerate(splitter.split(y, y)):
        curve: list[float] = []
        model = fine_tune_sentiment(
            [states[i] for i in fit],
            y[fit],
            config,
            seed,
            validation=([states[i] for i in held], y[held]),
            on_epoch=lambda epoch, accuracy, curve=curve: curve.append(round(accuracy, 4)),
        )
        out_of_fold[held] = predict_sentiment(model, [states[i] for i in held])
        selection_curves.append(curve)
        progress(f"phrasebank cross-validation fold {fold}: held-out accuracy per epoch {curve}")
    return {
        **multiclass_metrics(y, out_of_fold),
        "folds": folds,
        "seed": seed,
        "held_out_accuracy_per_epoch": selection_curves,
    }


def sentiment_task(
    news: pd.DataFrame,
    seeds: list[int],
    config: SentimentConfig = SentimentConfig(),  # noqa: B008 (frozen)
    test_news: pd.DataFrame | None = None,
    progress: Progress = _quiet,
) -> dict:
    """Fine-tuned MiniLM top layers per seed; frozen-MiniLM and TF-IDF logistic regressions.
    Without `config.early_stopping` each seed trains on every training sentence; with it, a
    stratified 10% of them is held out to choose the epoch."""
    news, evaluation = sentiment_split(news, test_news)
    also_in_training = 0 if test_news is None else len(_labelled(test_news)) - len(evaluation)
    y, y_test = sentiment_codes(news), sentiment_codes(evaluation)
    texts, test_texts = sentence_texts(news), sentence_texts(evaluation)
    states = frozen_bottom_states(texts + test_texts, config)
    train_states, test_states = states[: len(texts)], states[len(texts) :]
    progress(
        f"phrasebank: {len(texts)} training and {len(test_texts)} evaluation sentences encoded to layer "
        f"{6 - config.trainable_layers} ({also_in_training} evaluation sentences also in training left out)"
    )
    fit_rows, validation = np.arange(len(texts)), None
    if config.early_stopping:
        fit_rows, selection_rows = train_test_split(fit_rows, test_size=0.1, random_state=SPLIT_SEED, stratify=y)
        validation = ([train_states[i] for i in selection_rows], y[selection_rows])
    runs, probabilities = [], []
    for seed in seeds:
        progress(f"phrasebank seed {seed}: {config.epochs} epochs on {len(fit_rows)} sentences")
        model = fine_tune_sentiment(
            [train_states[i] for i in fit_rows],
            y[fit_rows],
            config,
            seed,
            validation=validation,
            on_epoch=lambda epoch, accuracy, seed=seed: progress(
                f"phrasebank seed {seed} epoch {epoch}: selection accuracy {accuracy:.4f}"
            ),
        )
        proba = predict_sentiment(model, test_states)
        probabilities.append(proba)
        runs.append(multiclass_metrics(y_test, proba))
        progress(f"phrasebank seed {seed}: accuracy {runs[-1]['accuracy']:.4f} macro F1 {runs[-1]['macro_f1']:.4f}")
    out = {
        **_summary(runs),
        "ensemble": multiclass_metrics(y_test, np.mean(probabilities, axis=0)),
        "n_train": len(texts),
        "n_test": len(test_texts),
        "n_test_also_in_training": also_in_training,
    }
    vectors = pretrained_sentence_vectors(states, config)
    frozen = LogisticRegression(max_iter=2000, C=10.0).fit(vectors[: len(texts)], y)
    out["frozen_minilm_logreg"] = multiclass_metrics(y_test, frozen.predict_proba(vectors[len(texts) :]))
    tfidf = fit_tfidf_logreg(texts, y, SPLIT_SEED)
    out["tfidf_logreg"] = multiclass_metrics(y_test, tfidf.predict_proba(test_texts))
    return out


# --- UCI credit default -------------------------------------------------------------------------

UCI_FUSION = FusionConfig(
    d=32,
    hidden=64,
    dropout=0.2,
    modality_dropout=0.0,
    epochs=30,
    lr=2e-3,
    weight_decay=1e-4,
    batch_size=512,
    patience=5,
    task_weights={"default": 1.0},
    frozen_modalities=(),
    early_stopping="auc",
)


@dataclass
class CreditData:
    keys: pd.DataFrame
    ranked: np.ndarray  # the pipeline's cross-sectional ranks (`features.fundamentals_asof`)
    raw: np.ndarray  # the cleaned values, for the baselines as usually published
    y: np.ndarray
    index: dict[str, np.ndarray] = field(default_factory=dict)


def prepare_credit(fundamentals: pd.DataFrame, events: pd.DataFrame) -> CreditData:
    """One row per client: features as of the record date, default label, the fixed split."""
    columns = fundamental_feature_columns(fundamentals)
    record_date = fundamentals["date"].max()
    ranked = fundamentals_asof(fundamentals, [record_date], columns).sort_values("entity_id", ignore_index=True)
    raw = fundamentals.set_index("entity_id").loc[ranked["entity_id"], columns].to_numpy(np.float64)
    defaulted = set(events.loc[events["event_type"] == "default", "entity_id"])
    y = ranked["entity_id"].isin(defaulted).to_numpy(float)
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    fit, selection = train_test_split(train, test_size=0.2, random_state=SPLIT_SEED, stratify=y[train])
    index = {"train": train, "fit": fit, "selection": selection, "test": test}
    return CreditData(ranked[["entity_id", "date"]], np.stack(ranked["vector"].to_numpy()), raw, y, index)


def credit_task(
    data: CreditData, seeds: list[int], config: FusionConfig = UCI_FUSION, progress: Progress = _quiet
) -> dict:
    """Per seed: the fusion model on the ranked record, and the network + trees stack (a
    `LogitStack` of that network and a HistGradientBoosting, both fitted on the fit rows, weighted
    on the selection rows); logistic regression and HistGradientBoosting fitted on all training
    rows as the baselines, on the same split, same process. The stack's margin over the trees
    (seed ensembles of each) comes with its bootstrap interval over test clients."""
    arrays = dense_arrays(data.keys, {"fundamentals": data.ranked})
    labels = single_task_labels(len(data.y), "default", data.y)
    dims = {"fundamentals": data.ranked.shape[1]}
    fit, selection = data.index["fit"], data.index["selection"]
    test, train = data.index["test"], data.index["train"]
    y_test = data.y[test]
    runs, models, logreg, gbm, stacked, weights = [], [], [], [], [], []
    gbm_scores, stack_scores = [], []
    for seed in seeds:
        model, history = train_multitask(arrays, labels, {"train": fit, "validation": selection}, dims, config, seed)
        models.append(model)
        network = {
            name: ensemble_predict([model], arrays.subset(data.index[name]))["default"]
            for name in ("selection", "test")
        }
        runs.append(float(roc_auc_score(y_test, network["test"])))
        logreg_model = fit_logistic_regression(data.raw[train], data.y[train], seed)
        logreg.append(float(roc_auc_score(y_test, logreg_model.predict_proba(data.raw[test])[:, 1])))
        gbm_scores.append(fit_hist_gbm(data.raw[train], data.y[train], seed).predict_proba(data.raw[test])[:, 1])
        gbm.append(float(roc_auc_score(y_test, gbm_scores[-1])))
        trees = fit_hist_gbm(data.raw[fit], data.y[fit], seed)
        stack = LogitStack.fit(
            data.y[selection], [network["selection"], trees.predict_proba(data.raw[selection])[:, 1]]
        )
        stack_scores.append(stack.predict([network["test"], trees.predict_proba(data.raw[test])[:, 1]]))
        stacked.append(float(roc_auc_score(y_test, stack_scores[-1])))
        weights.append(dict(zip(("network", "hist_gbm"), stack.weights, strict=True)))
        progress(
            f"uci_credit seed {seed}: {len(history)} epochs, AUC model {runs[-1]:.4f}, logreg {logreg[-1]:.4f}, "
            f"hist_gbm {gbm[-1]:.4f}, network+trees stack {stacked[-1]:.4f} (logit weights {weights[-1]})"
        )
    ensemble = ensemble_predict(models, arrays.subset(test))["default"]
    stack_ensemble, gbm_ensemble = np.mean(stack_scores, axis=0), np.mean(gbm_scores, axis=0)
    clients = {"client": data.keys["entity_id"].to_numpy()[test]}
    return {
        "auc": mean_std(runs),
        "auc_logreg": mean_std(logreg),
        "auc_hist_gbm": mean_std(gbm),
        "auc_ensemble": float(roc_auc_score(y_test, ensemble)),
        "auc_stack": mean_std(stacked),
        "auc_stack_ensemble": float(roc_auc_score(y_test, stack_ensemble)),
        "auc_hist_gbm_ensemble": float(roc_auc_score(y_test, gbm_ensemble)),
        "stack_minus_hist_gbm": clustered_auc_margin(y_test, stack_ensemble, gbm_ensemble, clients),
        "stack_weights": weights,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "default_rate_test": float(y_test.mean()),
    }
