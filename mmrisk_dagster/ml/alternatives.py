"""The models the fused model is judged against, fitted on the training split and scored on the
evaluated splits: the baselines of `ml.baselines` and a model trained on each modality alone."""

from __future__ import annotations

import numpy as np

from mmrisk_dagster.ml.baselines import fit_hist_gbm, fit_linear_svm, fit_tfidf_logreg, risk_score, tabular_features
from mmrisk_dagster.ml.inputs import PanelArrays, restrict
from mmrisk_dagster.ml.metrics import auc_or_nan, mean_std
from mmrisk_dagster.ml.prediction import predict, sigmoid
from mmrisk_dagster.ml.training import LabelArrays, PreparedData, train_ensemble

# Splits on which every model and baseline is scored (none of them is fitted there).
EVALUATED_SPLITS = ("gate", "test")


def baseline_reports(
    arrays: PanelArrays, texts: list[str], labels: LabelArrays, index: dict, task: str, seeds: list[int]
) -> tuple[dict, dict]:
    """AUC (mean ± std over seeds) of the baselines on the primary task in each evaluated split,
    and each baseline's seed-averaged score per labelled row of those splits (for the paired
    bootstrap). Gradient boosting is refitted per seed; the logistic regression and the linear
    SVM are deterministic, so they are fitted once."""
    train, y_train = labels.known(task, index["train"])
    evaluated = {s: labels.known(task, index[s]) for s in EVALUATED_SPLITS}
    tabular = tabular_features(arrays)
    text_array = np.asarray(texts, dtype=object)
    fitters = {
        "hist_gbm": (lambda seed: fit_hist_gbm(tabular[train], y_train, seed), lambda rows: tabular[rows], seeds),
        "tfidf_logreg": (
            lambda seed: fit_tfidf_logreg(list(text_array[train]), y_train, seed),
            lambda rows: list(text_array[rows]),
            seeds[:1],
        ),
        "linear_svm": (
            lambda seed: fit_linear_svm(tabular[train], y_train, seed),
            lambda rows: tabular[rows],
            seeds[:1],
        ),
    }
    reports, scores = {}, {}
    for name, (fit, features, fit_seeds) in fitters.items():
        per_split: dict[str, list[np.ndarray]] = {s: [] for s in evaluated}
        for seed in fit_seeds:
            model = fit(seed)
            for split, (rows, _) in evaluated.items():
                per_split[split].append(risk_score(model, features(rows)))
        reports[name] = {
            split: mean_std([auc_or_nan(evaluated[split][1], p) for p in runs]) for split, runs in per_split.items()
        }
        scores[name] = {split: np.mean(runs, axis=0) for split, runs in per_split.items()}
    return reports, scores


def single_modality_reports(data, space, config, seeds: list[int], task: str = "default") -> tuple[dict, dict]:
    """Test AUC of a model trained on one modality alone (encoder from the shared space), and
    its member-averaged score per labelled test row.

    Rows without that modality get the training base rate, so every model is scored on the
    same test rows as the fused one.
    """
    reports, test_scores = {}, {}
    y_train = data.labels.values[task][data.index["train"]]
    base_rate = float(np.nanmean(y_train))
    rows, y = data.labels.known(task, data.index["test"])
    for modality in space.modalities:
        dims = {modality: space.dims[modality]}
        arrays = restrict(data.arrays, [modality], space.dims)
        single = PreparedData(arrays, data.split, data.index, data.labels)
        encoder_state = {k: v for k, v in space.encoders.state_dict().items() if k.startswith(f"{modality}.")}
        models, _ = train_ensemble(single.arrays, single.labels, single.index, dims, config, seeds, encoder_state)
        members = []
        test = arrays.subset(rows)
        usable = test.attend.any(axis=1)
        for member in models:
            scores = np.full(len(rows), base_rate)
            if usable.any():
                scores[usable] = sigmoid(predict(member, test.subset(np.flatnonzero(usable)))[task])
            members.append(scores)
        reports[modality] = {"test": mean_std([auc_or_nan(y, p) for p in members]), "coverage": float(usable.mean())}
        test_scores[modality] = np.mean(members, axis=0)
    return reports, test_scores
