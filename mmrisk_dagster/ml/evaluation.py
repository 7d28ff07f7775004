"""Honest evaluation: the chronological test split, baselines on the same split, ablations,
and the model gate on the gate split (which nothing fitted, early-stopped or calibrated on).

Every figure for the model is given for the seed ensemble and as mean ± std over its members;
baselines are refitted per seed where they have randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mmrisk_dagster.ml.baselines import fit_hist_gbm, fit_linear_svm, fit_tfidf_logreg, risk_score, tabular_features
from mmrisk_dagster.ml.fusion import BINARY_TASKS
from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.metrics import (
    Clusters,
    accuracy_threshold,
    binary_metrics,
    clustered_auc_margin,
    compare_aucs,
    mean_std,
    multiclass_metrics,
    regression_metrics,
)
from mmrisk_dagster.ml.prediction import apply_calibrator, ensemble_predict, ensemble_predictions, predict, sigmoid
from mmrisk_dagster.ml.training import LabelArrays
from mmrisk_dagster.ml.var import backtest_against_baselines

PRIMARY_TASK_ORDER = ("default", "movement")
# Splits on which every model and baseline is scored (none of them is fitted there).
EVALUATED_SPLITS = ("gate", "test")
# The split the gate judges on: nothing is fitted, early-stopped or calibrated there.
GATE_SPLIT = "gate"
FUSED = "fused"


def _known(labels: LabelArrays, task: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = labels.values[task][index]
    keep = ~np.isnan(y)
    return index[keep], y[keep]


def primary_task(labels: LabelArrays, index: dict[str, np.ndarray]) -> str | None:
    """The first binary task with both classes in the gate and test splits."""
    for task in PRIMARY_TASK_ORDER:
        ok = True
        for split in ("gate", "test"):
            _, y = _known(labels, task, index[split])
            ok &= len(y) > 0 and 0 < y.sum() < len(y)
        if ok:
            return task
    return None


def decision_thresholds(models, data, calibrator: dict) -> dict[str, float]:
    """The cut per binary task that accuracy, precision, recall and MCC use, fitted on the
    validation split and never on the split it scores: the validation base rate for the
    calibrated default probability (a rare event), the most accurate cut for movement."""
    rows = data.index["validation"]
    pred = ensemble_predict(models, data.arrays.subset(rows))
    thresholds = {}
    for task in BINARY_TASKS:
        keep, y = _known(data.labels, task, rows)
        if len(y) and 0 < y.sum() < len(y):
            p = pred[task][np.searchsorted(rows, keep)]
            thresholds[task] = float(y.mean()) if task == "default" else accuracy_threshold(y, p)
    return thresholds


def task_report(
    pred: dict, labels: LabelArrays, rows: np.ndarray, calibrator: dict | None = None, thresholds: dict | None = None
) -> dict:
    """Metrics per task on `rows` (positions into `pred`'s arrays match positions in labels);
    binary tasks cut at `thresholds` (from `decision_thresholds`; the rows' own base rate without)."""
    report = {}
    for task in BINARY_TASKS:
        keep, y = _known(labels, task, rows)
        p = pred[task][np.searchsorted(rows, keep)]
        if task == "default" and calibrator is not None:
            p = apply_calibrator(calibrator, p)
        report[task] = binary_metrics(y, p, (thresholds or {}).get(task))
    keep, y = _known(labels, "log_forward_vol", rows)
    report["log_forward_vol"] = regression_metrics(
        y * labels.vol_std + labels.vol_mean,
        pred["log_forward_vol"][np.searchsorted(rows, keep)] * labels.vol_std + labels.vol_mean,
    )
    keep, y = _known(labels, "sentiment", rows)
    report["sentiment"] = multiclass_metrics(y.astype(int), pred["sentiment"][np.searchsorted(rows, keep)])
    return report


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of any ranking score (an SVM's margin as well as a probability); NaN with one class."""
    if len(y) == 0 or np.min(y) == np.max(y):
        return float("nan")
    return float(roc_auc_score(y, p))


def baseline_reports(
    arrays: PanelArrays, texts: list[str], labels: LabelArrays, index: dict, task: str, seeds: list[int]
) -> tuple[dict, dict]:
    """AUC (mean ± std over seeds) of the baselines on the primary task in each evaluated split,
    and each baseline's seed-averaged score per labelled row of those splits (for the paired
    bootstrap). Gradient boosting is refitted per seed; the logistic regression and the linear
    SVM are deterministic, so they are fitted once."""
    train, y_train = _known(labels, task, index["train"])
    evaluated = {s: _known(labels, task, index[s]) for s in EVALUATED_SPLITS}
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
            split: mean_std([_auc(evaluated[split][1], p) for p in runs]) for split, runs in per_split.items()
        }
        scores[name] = {split: np.mean(runs, axis=0) for split, runs in per_split.items()}
    return reports, scores


def ablation_reports(models, arrays: PanelArrays, labels: LabelArrays, rows: np.ndarray, task: str) -> dict:
    """Test AUC with each modality removed, and with only one modality, at inference time."""
    test = arrays.subset(rows)
    keep, y = _known(labels, task, rows)
    position = np.searchsorted(rows, keep)
    masks = []
    for i, m in enumerate(models[0].modalities):
        removed = test.attend.copy()
        removed[:, i] = False
        only = np.zeros_like(test.attend)
        only[:, i] = test.attend[:, i]
        masks += [("removed", m, removed), ("only", m, only)]
    out: dict[str, dict] = {"removed": {}, "only": {}}
    predictions = ensemble_predictions(models, test, [attend for _, _, attend in masks])
    for (name, m, attend), pred in zip(masks, predictions):
        usable = attend[position].any(axis=1)
        out[name][m] = {"auc": _auc(y[usable], pred[task][position][usable]), "rows": int(usable.sum())}
    return out


def member_summary(models, data, rows: np.ndarray, calibrator: dict) -> dict:
    """Mean ± std over ensemble members of each task's headline metrics, each member cut at its
    own validation thresholds."""
    test = data.arrays.subset(rows)
    reports = []
    for member in models:
        pred = ensemble_predict([member], test)
        reports.append(
            task_report(pred, data.labels, rows, calibrator, decision_thresholds([member], data, calibrator))
        )
    summary = {}
    for task, metrics in reports[0].items():
        summary[task] = {
            metric: mean_std([r[task].get(metric) for r in reports])
            for metric, value in metrics.items()
            if isinstance(value, float)
        }
    return summary


def markdown_table(report: dict) -> str:
    """Every model's test AUC with its clustered bootstrap standard error, the fused model's margin
    over the best alternative, then the members' spread and the inference-time ablations."""
    task, comparison = report["primary_task"], report["test_comparison"]
    clusters = comparison["clusters"]
    lines = [
        f"{task} AUC on the test split: {comparison['rows']:,} entity-days, {comparison['positives']:,} positive, "
        f"{clusters['entity']} entities on {clusters['date']} dates (± = bootstrap standard error, resampling "
        "entities and dates)",
        "",
        "| model | test AUC | ± |",
        "|---|---|---|",
    ]
    for name, value in sorted(comparison["models"].items(), key=lambda item: -item[1]["auc"]):
        label = {FUSED: "fused model (ensemble)"}.get(
            name, name.replace("only_", "only ") + (" (trained alone)" if name.startswith("only_") else "")
        )
        lines.append(f"| {label} | {value['auc']:.4f} | {value['std_error']:.4f} |")
    margin = comparison["margin"]
    verdict = "distinguishable from zero" if margin["distinguishable_from_zero"] else "NOT distinguishable from zero"
    lines += [
        "",
        f"Margin of the fused model over the best alternative ({comparison['best_alternative']}): "
        f"{margin['margin']:+.4f} ± {margin['std_error']:.4f}, 95% interval [{margin['ci_low']:+.4f}, {margin['ci_high']:+.4f}]: {verdict}.",
        "",
        "| fused model, other views | test AUC | std |",
        "|---|---|---|",
    ]
    member = report["model"]["members"].get(task, {}).get("auc", {})
    lines.append(
        f"| members (mean ± std over seeds) | {member.get('mean', float('nan')):.4f} | {member.get('std', float('nan')):.4f} |"
    )
    for m, value in report["ablation"]["only"].items():
        lines.append(f"| only {m} (inference) | {value['auc']:.4f} | |")
    for m, value in report["ablation"]["removed"].items():
        lines.append(f"| without {m} (inference) | {value['auc']:.4f} | |")
    return "\n".join(lines)


def evaluate(
    models,
    data,
    calibrator: dict,
    texts: list[str],
    seeds: list[int],
    space=None,
    single_modality_seeds: Sequence[int] = (),
    returns: pd.DataFrame | None = None,
) -> dict:
    """The full report on `data` (a training.PreparedData): model (ensemble and members),
    baselines, inference-time ablations, models trained on one modality (when `space` and
    `single_modality_seeds` are given), the gate's inputs (on GATE_SPLIT), every model's test AUC
    with its uncertainty and the fused model's margin over the best alternative, the VaR backtest
    against GARCH(1,1) and historical volatility (when daily `returns` from `var.daily_returns`
    are given), markdown."""
    arrays, labels, index = data.arrays, data.labels, data.index
    task = primary_task(labels, index)
    predictions = {split: ensemble_predict(models, arrays.subset(index[split])) for split in EVALUATED_SPLITS}
    test_rows = index["test"]
    thresholds = decision_thresholds(models, data, calibrator)
    report: dict = {
        "primary_task": task,
        "thresholds": thresholds,
        "model": {
            "ensemble": task_report(predictions["test"], labels, test_rows, calibrator, thresholds),
            **{
                split: task_report(predictions[split], labels, index[split], calibrator, thresholds)
                for split in EVALUATED_SPLITS
                if split != "test"
            },
            "members": member_summary(models, data, test_rows, calibrator),
            "gate_members": member_summary(models, data, index[GATE_SPLIT], calibrator),
        },
        "baselines": {},
        "ablation": {"removed": {}, "only": {}},
        "single_modality_models": {},
        "gate_inputs": {"task": None},
    }
    if task:
        report["baselines"], baseline_scores = baseline_reports(arrays, texts, labels, index, task, seeds)
        report["ablation"] = ablation_reports(models, arrays, labels, test_rows, task)
        single_scores: dict[str, np.ndarray] = {}
        if space is not None and single_modality_seeds:
            report["single_modality_models"], single_scores = single_modality_reports(
                data, space, models[0].config, list(single_modality_seeds), task
            )
        fused = {split: _scores_on_known(predictions[split], labels, index[split], task) for split in EVALUATED_SPLITS}
        keys = arrays.keys
        rows, y, p = fused[GATE_SPLIT]
        report["gate_inputs"] = gate_inputs(
            task, y, p, {n: s[GATE_SPLIT] for n, s in baseline_scores.items()}, row_clusters(keys, rows)
        )
        rows, y, p = fused["test"]
        alternatives = {
            **{n: s["test"] for n, s in baseline_scores.items()},
            **{f"only_{m}": v for m, v in single_scores.items()},
        }
        report["test_comparison"] = compare_aucs(y, {FUSED: p, **alternatives}, row_clusters(keys, rows), FUSED)
    report["markdown"] = (
        markdown_table(report) if task else "no binary task with both classes in the gate and test splits"
    )
    if returns is not None:
        forecasts = arrays.keys.iloc[test_rows].assign(
            model=np.exp(predictions["test"]["log_forward_vol"] * labels.vol_std + labels.vol_mean)
        )
        report["var_backtest"] = backtest_against_baselines(forecasts, returns, data.split["train"][-1])
        report["markdown"] += "\n\n" + report["var_backtest"]["markdown"]
    return report


def _scores_on_known(
    prediction: dict, labels: LabelArrays, rows: np.ndarray, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled rows among `rows`, their labels and the ensemble's score for them."""
    known, y = _known(labels, task, rows)
    return known, y, prediction[task][np.searchsorted(rows, known)]


def row_clusters(keys: pd.DataFrame, rows: np.ndarray) -> Clusters:
    """The entity and the date of each row: the two ways panel rows are correlated."""
    return {"entity": keys["entity_id"].to_numpy()[rows], "date": keys["date"].to_numpy()[rows]}


def gate_inputs(
    task: str, y: np.ndarray, model_scores: np.ndarray, baseline_scores: dict[str, np.ndarray], clusters: Clusters
) -> dict:
    """AUC of the model and of the best baseline on GATE_SPLIT (rows nothing was fitted,
    early-stopped or calibrated on), with the margin's bootstrap uncertainty over entities and dates."""
    baselines = {name: _auc(y, p) for name, p in baseline_scores.items()}
    best = max(baselines, key=lambda name: baselines[name])
    margin = clustered_auc_margin(y, model_scores, baseline_scores[best], clusters)
    return {
        "task": task,
        "split": GATE_SPLIT,
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "model_auc": _auc(y, model_scores),
        "best_baseline": best,
        "best_baseline_auc": baselines[best],
        "baseline_aucs": baselines,
        "margin": margin["margin"],
        "margin_std_error": margin["std_error"],
        "margin_ci_low": margin["ci_low"],
        "margin_ci_high": margin["ci_high"],
        "margin_distinguishable_from_zero": margin["distinguishable_from_zero"],
    }


def gate_decision(inputs: dict, tolerance: float) -> dict:
    """Pass when the model's AUC on the gate split is at least the best baseline's minus `tolerance`."""
    if inputs.get("task") is None:
        return {"passed": False, "reason": "no binary task with both classes in the gate and test splits", **inputs}
    return {**inputs, "passed": bool(inputs["margin"] >= -tolerance), "tolerance": tolerance}


def single_modality_reports(data, space, config, seeds: list[int], task: str = "default") -> tuple[dict, dict]:
    """Test AUC of a model trained on one modality alone (encoder from the shared space), and
    its member-averaged score per labelled test row.

    Rows without that modality get the training base rate, so every model is scored on the
    same test rows as the fused one.
    """
    from mmrisk_dagster.ml.inputs import restrict
    from mmrisk_dagster.ml.training import PreparedData, train_ensemble

    reports, test_scores = {}, {}
    y_train = data.labels.values[task][data.index["train"]]
    base_rate = float(np.nanmean(y_train))
    rows, y = _known(data.labels, task, data.index["test"])
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
        reports[modality] = {"test": mean_std([_auc(y, p) for p in members]), "coverage": float(usable.mean())}
        test_scores[modality] = np.mean(members, axis=0)
    return reports, test_scores


def evaluation_figures(
    models, data, calibrator: dict, space=None, sample: int = 1000, seed: int = 0
) -> dict[str, bytes]:
    """The pictures of the evaluation (titles -> PNG): ROC and reliability per binary task, the
    score distribution, attention per modality and by risk decile on the test split; the panel's
    modality coverage over time; the shared space projected on two axes (a sample of test rows)."""
    from mmrisk_dagster.ml import plots
    from mmrisk_dagster.ml.shared_space import project

    arrays, labels, test_rows = data.arrays, data.labels, data.index["test"]
    test = arrays.subset(test_rows)
    pred = ensemble_predict(models, test)
    risk = apply_calibrator(calibrator, pred["default"])
    figures = {}
    for task in BINARY_TASKS:
        keep, y = _known(labels, task, test_rows)
        if len(y) == 0 or y.min() == y.max():
            continue
        p = (
            risk[np.searchsorted(test_rows, keep)]
            if task == "default"
            else pred[task][np.searchsorted(test_rows, keep)]
        )
        figures[f"{task}: ROC and reliability (test)"] = plots.roc_and_reliability(task, y, p, _auc(y, p))
    keep, y = _known(labels, "default", test_rows)
    if len(y):
        figures["Calibrated default probability by outcome (test)"] = plots.score_distribution(
            risk[np.searchsorted(test_rows, keep)], y
        )
    modalities = list(models[0].modalities)
    figures["Attention per modality, overall and by risk decile (test)"] = plots.attention_by_decile(
        pred["attention"], modalities, risk
    )
    figures["Modality coverage over time (panel)"] = plots.coverage_over_time(
        arrays.keys["date"], arrays.present, modalities
    )
    if space is not None and len(test):
        rows = np.random.default_rng(seed).choice(len(test), size=min(sample, len(test)), replace=False)
        projected = project(space, test.subset(rows))
        present = test.present[rows]
        vectors = {m: projected[m][present[:, i]] for i, m in enumerate(space.modalities)}
        colours = {m: risk[rows][present[:, i]] for i, m in enumerate(space.modalities)}
        figures["Shared space (PCA of a test sample)"] = plots.shared_space_projection(vectors, colours, seed)
    return figures
