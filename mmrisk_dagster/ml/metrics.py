"""Evaluation metrics for the binary, regression and 3-class tasks."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(error)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> dict:
    """AUC, PR-AUC, Brier, ECE and thresholded scores. The threshold defaults to the base rate,
    which keeps precision/recall meaningful for rare events."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    out = {"n": int(len(y)), "positives": int(y.sum()), "base_rate": float(y.mean()) if len(y) else float("nan")}
    if len(y) == 0 or y.min() == y.max():
        return out
    threshold = float(y.mean()) if threshold is None else threshold
    hard = (p >= threshold).astype(int)
    out.update(
        auc=float(skm.roc_auc_score(y, p)),
        pr_auc=float(skm.average_precision_score(y, p)),
        brier=float(skm.brier_score_loss(y, p)),
        ece=expected_calibration_error(y, p),
        accuracy=float(skm.accuracy_score(y, hard)),
        precision=float(skm.precision_score(y, hard, zero_division=0)),
        recall=float(skm.recall_score(y, hard, zero_division=0)),
        f1=float(skm.f1_score(y, hard, zero_division=0)),
        mcc=float(skm.matthews_corrcoef(y, hard)),
        threshold=threshold,
    )
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    if len(y) < 2:
        return {"n": int(len(y))}
    return {
        "n": int(len(y)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        "r2": float(skm.r2_score(y, pred)),
    }


def multiclass_metrics(y: np.ndarray, proba: np.ndarray) -> dict:
    if len(y) == 0:
        return {"n": 0}
    pred = proba.argmax(axis=1)
    return {
        "n": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "macro_f1": float(skm.f1_score(y, pred, average="macro")),
        "mcc": float(skm.matthews_corrcoef(y, pred)),
    }


def mean_std(values: list[float]) -> dict:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(arr) == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": int(len(arr))}
