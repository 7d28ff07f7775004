"""Honest evaluation: the chronological test split, baselines on the same split, ablations,
and the model gate on the gate split (which nothing fitted, early-stopped or calibrated on);
the alternatives themselves are fitted in `ml.alternatives`.

Every figure for the model is given for the seed ensemble and as mean ± std over its members;
baselines are refitted per seed where they have randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmrisk_dagster.ml.alternatives import EVALUATED_SPLITS, baseline_reports, single_modality_reports
from mmrisk_dagster.ml.evaluation_report import FUSED, evaluation_markdown
from mmrisk_dagster.ml.fusion import BINARY_TASKS
from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.metrics import (
    Clusters,
    accuracy_threshold,
    auc_or_nan,
    binary_metrics,
    clustered_auc_margin,
    clustered_cut_metrics,
    compare_aucs,
    mean_std,
    multiclass_metrics,
    regression_metrics,
)
from mmrisk_dagster.ml.prediction import apply_calibrator, ensemble_predict, ensemble_predictions
from mmrisk_dagster.ml.training import LabelArrays
from mmrisk_dagster.ml.var import backtest_against_baselines

PRIMARY_TASK_ORDER = ("default", "movement")
# The split the gate judges on: nothing is fitted, early-stopped or calibrated there.
GATE_SPLIT = "gate"


def primary_task(labels: LabelArrays, index: dict[str, np.ndarray]) -> str | None:
    """The first binary task with both classes in the gate and test splits."""
    for task in PRIMARY_TASK_ORDER:
        ok = True
        for split in ("gate", "test"):
            _, y = labels.known(task, index[split])
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
        keep, y = data.labels.known(task, rows)
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
        keep, y = labels.known(task, rows)
        p = pred[task][np.searchsorted(rows, keep)]
        if task == "default" and calibrator is not None:
            p = apply_calibrator(calibrator, p)
        report[task] = binary_metrics(y, p, (thresholds or {}).get(task))
    keep, y = labels.known("log_forward_vol", rows)
    report["log_forward_vol"] = regression_metrics(
        y * labels.vol_std + labels.vol_mean,
        pred["log_forward_vol"][np.searchsorted(rows, keep)] * labels.vol_std + labels.vol_mean,
    )
    keep, y = labels.known("sentiment", rows)
    report["sentiment"] = multiclass_metrics(y.astype(int), pred["sentiment"][np.searchsorted(rows, keep)])
    return report


def ablation_reports(models, arrays: PanelArrays, labels: LabelArrays, rows: np.ndarray, task: str) -> dict:
    """Test AUC with each modality removed, and with only one modality, at inference time."""
    test = arrays.subset(rows)
    keep, y = labels.known(task, rows)
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
        out[name][m] = {"auc": auc_or_nan(y[usable], pred[task][position][usable]), "rows": int(usable.sum())}
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
    # Validation too: the VaR multipliers of every method are fitted there.
    predictions = {
        split: ensemble_predict(models, arrays.subset(index[split])) for split in ("validation", *EVALUATED_SPLITS)
    }
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
        report["cut_metrics"] = {
            split: _cut_metrics(task, fused[split], thresholds, calibrator, keys) for split in EVALUATED_SPLITS
        }
        rows, y, p = fused["test"]
        alternatives = {
            **{n: s["test"] for n, s in baseline_scores.items()},
            **{f"only_{m}": v for m, v in single_scores.items()},
        }
        report["test_comparison"] = compare_aucs(y, {FUSED: p, **alternatives}, row_clusters(keys, rows), FUSED)
    report["markdown"] = (
        evaluation_markdown(report) if task else "no binary task with both classes in the gate and test splits"
    )
    if returns is not None:

        def forecasts(split: str) -> pd.DataFrame:
            return arrays.keys.iloc[index[split]].assign(model=labels.volatility(predictions[split]["log_forward_vol"]))

        report["var_backtest"] = backtest_against_baselines(
            forecasts("test"),
            forecasts("validation"),
            returns,
            data.split["train"][-1],
        )
        report["markdown"] += "\n\n" + report["var_backtest"]["markdown"]
    return report


def _scores_on_known(
    prediction: dict, labels: LabelArrays, rows: np.ndarray, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled rows among `rows`, their labels and the ensemble's score for them."""
    known, y = labels.known(task, rows)
    return known, y, prediction[task][np.searchsorted(rows, known)]


def _cut_metrics(task: str, fused: tuple, thresholds: dict, calibrator: dict, keys: pd.DataFrame) -> dict:
    """The ensemble's accuracy and MCC at the validation cut (as `task_report` cuts), with their
    clustered-bootstrap uncertainty and the majority-class answer's accuracy beside them."""
    rows, y, p = fused
    if task not in thresholds:
        return {}
    p = apply_calibrator(calibrator, p) if task == "default" else p
    return clustered_cut_metrics(y, p, thresholds[task], row_clusters(keys, rows))


def row_clusters(keys: pd.DataFrame, rows: np.ndarray) -> Clusters:
    """The entity and the date of each row: the two ways panel rows are correlated."""
    return {"entity": keys["entity_id"].to_numpy()[rows], "date": keys["date"].to_numpy()[rows]}


def gate_inputs(
    task: str, y: np.ndarray, model_scores: np.ndarray, baseline_scores: dict[str, np.ndarray], clusters: Clusters
) -> dict:
    """AUC of the model and of the best baseline on GATE_SPLIT (rows nothing was fitted,
    early-stopped or calibrated on), with the margin's bootstrap uncertainty over entities and dates."""
    baselines = {name: auc_or_nan(y, p) for name, p in baseline_scores.items()}
    best = max(baselines, key=lambda name: baselines[name])
    margin = clustered_auc_margin(y, model_scores, baseline_scores[best], clusters)
    return {
        "task": task,
        "split": GATE_SPLIT,
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "model_auc": auc_or_nan(y, model_scores),
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
