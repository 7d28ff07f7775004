"""Honest evaluation: the chronological test split, baselines on the same split, ablations,
and the model gate on the gate split (which nothing fitted, early-stopped or calibrated on).

Every figure for the model is given for the seed ensemble and as mean ± std over its members;
baselines are refitted per seed where they have randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmrisk_dagster.ml.baselines import fit_hist_gbm, fit_tfidf_logreg, tabular_features
from mmrisk_dagster.ml.fusion import BINARY_TASKS, MultitaskFusionModel
from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.metrics import (
    binary_metrics,
    mean_std,
    multiclass_metrics,
    regression_metrics,
)
from mmrisk_dagster.ml.training import LabelArrays, apply_calibrator, predict, sigmoid, with_frozen_tokens, with_tokens

PRIMARY_TASK_ORDER = ("default", "movement")


def ensemble_predict(models: list[MultitaskFusionModel], arrays: PanelArrays, attend: np.ndarray | None = None) -> dict:
    """Member-averaged probabilities, volatility, sentiment distribution, attention and the wide
    term's per-modality default logits."""
    return ensemble_predictions(models, arrays, [attend])[0]


def ensemble_predictions(models: list[MultitaskFusionModel], arrays: PanelArrays, attends: list[np.ndarray | None]) -> list[dict]:
    """`ensemble_predict` under each of several attention masks; every member encodes the rows once."""
    # Members share their frozen encoders (copied from one shared space): encode those once.
    arrays = with_frozen_tokens(models[0], arrays)
    encoded = [with_tokens(m, arrays, m.modalities) for m in models]
    return [_average([predict(m, a, attend) for m, a in zip(models, encoded)]) for attend in attends]


def _average(members: list[dict]) -> dict:
    out = {"members": members}
    for task in BINARY_TASKS:
        out[task] = np.mean([sigmoid(p[task]) for p in members], axis=0)
    out["log_forward_vol"] = np.mean([p["log_forward_vol"] for p in members], axis=0)
    sentiment = [np.exp(p["sentiment"]) / np.exp(p["sentiment"]).sum(1, keepdims=True) for p in members]
    out["sentiment"] = np.mean(sentiment, axis=0)
    out["attention"] = np.mean([p["attention"] for p in members], axis=0)
    out["wide"] = np.mean([p["wide"] for p in members], axis=0)
    return out


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


def task_report(pred: dict, labels: LabelArrays, rows: np.ndarray, calibrator: dict | None = None) -> dict:
    """Metrics per task on `rows` (positions into `pred`'s arrays match positions in labels)."""
    report = {}
    for task in BINARY_TASKS:
        keep, y = _known(labels, task, rows)
        p = pred[task][np.searchsorted(rows, keep)]
        if task == "default" and calibrator is not None:
            p = apply_calibrator(calibrator, p)
        report[task] = binary_metrics(y, p)
    keep, y = _known(labels, "log_forward_vol", rows)
    report["log_forward_vol"] = regression_metrics(
        y * labels.vol_std + labels.vol_mean,
        pred["log_forward_vol"][np.searchsorted(rows, keep)] * labels.vol_std + labels.vol_mean,
    )
    keep, y = _known(labels, "sentiment", rows)
    report["sentiment"] = multiclass_metrics(y.astype(int), pred["sentiment"][np.searchsorted(rows, keep)])
    return report


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return binary_metrics(y, p).get("auc", float("nan"))


def baseline_reports(arrays: PanelArrays, texts: list[str], labels: LabelArrays, index: dict, task: str, seeds: list[int]) -> dict:
    """Gate and test AUC of the two baselines on the primary task, fitted on the training split.
    Gradient boosting is refitted per seed; the logistic regression is deterministic, so it is
    fitted once."""
    train, y_train = _known(labels, task, index["train"])
    evaluated = {s: _known(labels, task, index[s]) for s in ("gate", "test")}
    tabular = tabular_features(arrays)
    text_array = np.asarray(texts, dtype=object)
    fitters = {
        "hist_gbm": (lambda seed: fit_hist_gbm(tabular[train], y_train, seed), lambda rows: tabular[rows], seeds),
        "tfidf_logreg": (lambda seed: fit_tfidf_logreg(list(text_array[train]), y_train, seed), lambda rows: list(text_array[rows]), seeds[:1]),
    }
    reports = {}
    for name, (fit, features, fit_seeds) in fitters.items():
        per_split: dict[str, list[float]] = {s: [] for s in evaluated}
        for seed in fit_seeds:
            model = fit(seed)
            for split, (rows, y) in evaluated.items():
                per_split[split].append(_auc(y, model.predict_proba(features(rows))[:, 1]))
        reports[name] = {split: mean_std(values) for split, values in per_split.items()}
    return reports


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


def member_summary(models, arrays: PanelArrays, labels: LabelArrays, rows: np.ndarray, calibrator: dict | None) -> dict:
    """Mean ± std over ensemble members of each task's headline metrics."""
    test = arrays.subset(rows)
    reports = []
    for member in models:
        pred = ensemble_predict([member], test)
        reports.append(task_report(pred, labels, rows, calibrator))
    summary = {}
    for task, metrics in reports[0].items():
        summary[task] = {
            metric: mean_std([r[task].get(metric) for r in reports])
            for metric, value in metrics.items()
            if isinstance(value, float)
        }
    return summary


def markdown_table(report: dict) -> str:
    task = report["primary_task"]
    lines = [f"| {task} AUC (test) | mean | std |", "|---|---|---|"]
    member = report["model"]["members"].get(task, {}).get("auc", {})
    lines.append(f"| fused model (members) | {member.get('mean', float('nan')):.4f} | {member.get('std', float('nan')):.4f} |")
    lines.append(f"| fused model (ensemble) | {report['model']['ensemble'][task].get('auc', float('nan')):.4f} | |")
    for name, splits in report["baselines"].items():
        lines.append(f"| {name} | {splits['test']['mean']:.4f} | {splits['test']['std']:.4f} |")
    for m, value in report.get("single_modality_models", {}).items():
        lines.append(f"| only {m} (trained alone) | {value['test']['mean']:.4f} | {value['test']['std']:.4f} |")
    for m, value in report["ablation"]["only"].items():
        lines.append(f"| only {m} (inference) | {value['auc']:.4f} | |")
    for m, value in report["ablation"]["removed"].items():
        lines.append(f"| without {m} (inference) | {value['auc']:.4f} | |")
    return "\n".join(lines)


def evaluate(models, data, calibrator: dict, texts: list[str], seeds: list[int], space=None, single_modality_seeds: Sequence[int] = ()) -> dict:
    """The full report on `data` (a training.PreparedData): model (ensemble and members),
    baselines, inference-time ablations, models trained on one modality (when `space` and
    `single_modality_seeds` are given), markdown."""
    arrays, labels, index = data.arrays, data.labels, data.index
    task = primary_task(labels, index)
    test_rows, gate_rows = index["test"], index["gate"]
    report = {
        "primary_task": task,
        "model": {
            "ensemble": task_report(ensemble_predict(models, arrays.subset(test_rows)), labels, test_rows, calibrator),
            "gate": task_report(ensemble_predict(models, arrays.subset(gate_rows)), labels, gate_rows, calibrator),
            "members": member_summary(models, arrays, labels, test_rows, calibrator),
        },
        "baselines": baseline_reports(arrays, texts, labels, index, task, seeds) if task else {},
        "ablation": ablation_reports(models, arrays, labels, test_rows, task) if task else {"removed": {}, "only": {}},
        "single_modality_models": (
            single_modality_reports(data, space, models[0].config, list(single_modality_seeds), task)
            if task and space is not None and single_modality_seeds else {}
        ),
    }
    report["gate_inputs"] = gate_inputs(report)
    report["markdown"] = markdown_table(report) if task else "no binary task with both classes in the gate and test splits"
    return report


def gate_inputs(report: dict) -> dict:
    """Gate-split AUC of the model and of every baseline on the primary task; the best baseline."""
    task = report["primary_task"]
    if task is None:
        return {"task": None}
    model_auc = report["model"]["gate"][task].get("auc", float("nan"))
    baselines = {name: b["gate"]["mean"] for name, b in report["baselines"].items()}
    best = max(baselines, key=lambda name: baselines[name])
    return {
        "task": task, "split": "gate", "model_auc": model_auc, "baseline_aucs": baselines,
        "best_baseline": best, "best_baseline_auc": baselines[best],
    }


def gate_decision(inputs: dict, tolerance: float) -> dict:
    """Pass when the model's gate-split AUC is at least the best baseline's minus `tolerance`."""
    if inputs.get("task") is None:
        return {"passed": False, "reason": "no binary task with both classes in the gate and test splits", **inputs}
    margin = inputs["model_auc"] - inputs["best_baseline_auc"]
    return {"passed": bool(margin >= -tolerance), "margin": margin, "tolerance": tolerance, **inputs}


def single_modality_reports(data, space, config, seeds: list[int], task: str = "default") -> dict:
    """Test AUC of a model trained on one modality alone (encoder from the shared space).

    Rows without that modality get the training base rate, so every model is scored on the
    same test rows as the fused one.
    """
    from mmrisk_dagster.ml.inputs import restrict
    from mmrisk_dagster.ml.training import PreparedData, train_ensemble

    reports = {}
    y_train = data.labels.values[task][data.index["train"]]
    base_rate = float(np.nanmean(y_train))
    rows, y = _known(data.labels, task, data.index["test"])
    for modality in space.modalities:
        dims = {modality: space.dims[modality]}
        arrays = restrict(data.arrays, [modality], space.dims)
        single = PreparedData(arrays, data.split, data.index, data.labels)
        encoder_state = {k: v for k, v in space.encoders.state_dict().items() if k.startswith(f"{modality}.")}
        models, _ = train_ensemble(single.arrays, single.labels, single.index, dims, config, seeds, encoder_state)
        aucs = []
        test = arrays.subset(rows)
        usable = test.attend.any(axis=1)
        for member in models:
            scores = np.full(len(rows), base_rate)
            if usable.any():
                scores[usable] = sigmoid(predict(member, test.subset(np.flatnonzero(usable)))[task])
            aucs.append(_auc(y, scores))
        reports[modality] = {"test": mean_std(aucs), "coverage": float(usable.mean())}
    return reports


def evaluation_figures(models, data, calibrator: dict, space=None, sample: int = 1000, seed: int = 0) -> dict[str, bytes]:
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
        p = risk[np.searchsorted(test_rows, keep)] if task == "default" else pred[task][np.searchsorted(test_rows, keep)]
        figures[f"{task}: ROC and reliability (test)"] = plots.roc_and_reliability(task, y, p, _auc(y, p))
    keep, y = _known(labels, "default", test_rows)
    if len(y):
        figures["Calibrated default probability by outcome (test)"] = plots.score_distribution(risk[np.searchsorted(test_rows, keep)], y)
    modalities = list(models[0].modalities)
    figures["Attention per modality, overall and by risk decile (test)"] = plots.attention_by_decile(pred["attention"], modalities, risk)
    figures["Modality coverage over time (panel)"] = plots.coverage_over_time(arrays.keys["date"], arrays.present, modalities)
    if space is not None and len(test):
        rows = np.random.default_rng(seed).choice(len(test), size=min(sample, len(test)), replace=False)
        projected = project(space, test.subset(rows))
        present = test.present[rows]
        vectors = {m: projected[m][present[:, i]] for i, m in enumerate(space.modalities)}
        colours = {m: risk[rows][present[:, i]] for i, m in enumerate(space.modalities)}
        figures["Shared space (PCA of a test sample)"] = plots.shared_space_projection(vectors, colours, seed)
    return figures
