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


def auc_or_nan(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of any ranking score (an SVM's margin as well as a probability); NaN with one class."""
    if len(y) == 0 or np.min(y) == np.max(y):
        return float("nan")
    return float(skm.roc_auc_score(y, p))


def accuracy_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The cut on `p` with the best accuracy on (y, p), searched over its quantiles: fitted on a
    selection window, then applied unchanged to the splits after it."""
    candidates = np.unique(np.quantile(p, np.linspace(0.0, 0.98, 50)))
    accuracy = [np.mean((p >= cut) == y) for cut in candidates]
    return float(candidates[int(np.argmax(accuracy))])


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


Clusters = dict[str, np.ndarray]  # dimension name (entity, date) -> each row's cluster in it


def cluster_counts(clusters: Clusters) -> dict[str, int]:
    return {name: int(len(np.unique(np.asarray(values)))) for name, values in clusters.items()}


def clustered_bootstrap_aucs(
    y: np.ndarray, scores: dict[str, np.ndarray], clusters: Clusters, draws: int = 500, seed: int = 0
) -> dict[str, np.ndarray]:
    """AUC of every score under the same bootstrap draws over clusters: rows of one entity are
    correlated, and so are the rows of one date (a market day moves every stock), so resampling
    rows would understate the uncertainty.

    Each draw resamples the clusters of every dimension independently, with replacement, and
    weights a row by the product of how often its clusters were drawn (the pigeonhole bootstrap,
    Owen 2007: conservative for two-way clustered data); draws with a single class are skipped.
    Paired draws let differences between scores be read off directly.
    """
    y = np.asarray(y, dtype=float)
    ranked = {name: RankedScores(y, p) for name, p in scores.items()}
    samples: dict[str, list[float]] = {name: [] for name in scores}
    for weight in cluster_weight_draws(y, clusters, draws, seed):
        for name, scored in ranked.items():
            samples[name].append(scored.weighted_auc(weight))
    return {name: np.asarray(values) for name, values in samples.items()}


def cluster_weight_draws(y: np.ndarray, clusters: Clusters, draws: int, seed: int):
    """Row weights of each pigeonhole-bootstrap draw (see `clustered_bootstrap_aucs`); draws
    that leave a single class are skipped."""
    dimensions = [np.unique(np.asarray(values), return_inverse=True) for values in clusters.values()]
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        weight = np.ones(len(y), dtype=np.int64)
        for names, codes in dimensions:
            weight *= np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names))[codes]
        drawn = weight > 0
        if drawn.any() and y[drawn].min() != y[drawn].max():
            yield weight


def weighted_cut_metrics(y: np.ndarray, hard: np.ndarray, weight: np.ndarray) -> dict[str, float]:
    """Accuracy and MCC of 0/1 predictions `hard` under row weights (sklearn's with sample_weight)."""
    tp, tn = np.sum(weight * y * hard), np.sum(weight * (1 - y) * (1 - hard))
    fp, fn = np.sum(weight * (1 - y) * hard), np.sum(weight * y * (1 - hard))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "accuracy": float((tp + tn) / weight.sum()),
        "mcc": float((tp * tn - fp * fn) / denominator) if denominator > 0 else 0.0,
    }


def clustered_cut_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, clusters: Clusters, draws: int = 500, seed: int = 0
) -> dict:
    """Accuracy and MCC at a fixed cut with their clustered-bootstrap standard errors, beside the
    same figures for answering the majority class of the evaluated rows throughout. On market
    data a day's stocks mostly move together, so accuracy is close to a count of the days whose
    direction was called right: its uncertainty is that of a few dozen coin flips, not thousands."""
    y = np.asarray(y, dtype=float)
    hard = (np.asarray(p, dtype=float) >= threshold).astype(float)
    majority = np.full(len(y), float(y.mean() >= 0.5))
    ones = np.ones(len(y))
    out: dict = {
        **weighted_cut_metrics(y, hard, ones),
        "majority_class_accuracy": weighted_cut_metrics(y, majority, ones)["accuracy"],
    }
    samples = [
        (weighted_cut_metrics(y, hard, w), weighted_cut_metrics(y, majority, w))
        for w in cluster_weight_draws(y, clusters, draws, seed)
    ]
    for metric in ("accuracy", "mcc"):
        out[f"{metric}_std_error"] = float(np.std([s[0][metric] for s in samples], ddof=1))
    out["majority_class_accuracy_std_error"] = float(np.std([s[1]["accuracy"] for s in samples], ddof=1))
    out["clusters"] = cluster_counts(clusters)
    return out


class RankedScores:
    """Scores sorted into tie groups once, so that the AUC under any row weights is a few
    vectorized sums (a bootstrap asks for hundreds): the weighted Mann-Whitney statistic, ties
    counted half, which is what `sklearn.metrics.roc_auc_score(..., sample_weight=w)` computes."""

    def __init__(self, y: np.ndarray, scores: np.ndarray):
        self.y = np.asarray(y, dtype=float)
        values, self.group = np.unique(np.asarray(scores, dtype=float), return_inverse=True)
        self.groups = len(values)

    def weighted_auc(self, weight: np.ndarray) -> float:
        positive = np.bincount(self.group, weights=weight * self.y, minlength=self.groups)
        negative = np.bincount(self.group, weights=weight * (1.0 - self.y), minlength=self.groups)
        negatives_below = np.cumsum(negative) - negative
        return float((positive * (negatives_below + 0.5 * negative)).sum() / (positive.sum() * negative.sum()))


def _interval(point: float, samples: np.ndarray) -> dict:
    low, high = np.quantile(samples, [0.025, 0.975]) if len(samples) else (np.nan, np.nan)
    return {
        "std_error": float(samples.std(ddof=1)) if len(samples) > 1 else float("nan"),
        "ci_low": float(low),
        "ci_high": float(high),
        "distinguishable_from_zero": bool(low > 0 or high < 0) if point == point else False,
    }


def clustered_auc_margin(
    y: np.ndarray, p_model: np.ndarray, p_other: np.ndarray, clusters: Clusters, draws: int = 500, seed: int = 0
) -> dict:
    """AUC(model) - AUC(other) on the same rows, with its clustered bootstrap standard error,
    2.5/97.5% percentile interval and whether that interval excludes zero."""
    samples = clustered_bootstrap_aucs(y, {"model": p_model, "other": p_other}, clusters, draws, seed)
    margin = float(skm.roc_auc_score(y, p_model) - skm.roc_auc_score(y, p_other))
    difference = samples["model"] - samples["other"]
    return {
        "margin": margin,
        **_interval(margin, difference),
        "clusters": cluster_counts(clusters),
        "draws": int(len(difference)),
    }


def compare_aucs(
    y: np.ndarray, scores: dict[str, np.ndarray], clusters: Clusters, reference: str, draws: int = 500, seed: int = 0
) -> dict:
    """Each score's AUC with its clustered-bootstrap standard error, and the margin of
    `reference` over the best other score (the best by point AUC), from paired draws."""
    samples = clustered_bootstrap_aucs(y, scores, clusters, draws, seed)
    point = {name: float(skm.roc_auc_score(y, p)) for name, p in scores.items()}
    models = {
        name: {"auc": point[name], "std_error": _interval(point[name], samples[name])["std_error"]} for name in scores
    }
    others = {name: value for name, value in point.items() if name != reference}
    best = max(others, key=lambda name: others[name])
    margin = point[reference] - point[best]
    return {
        "models": models,
        "reference": reference,
        "best_alternative": best,
        "margin": {"margin": margin, **_interval(margin, samples[reference] - samples[best])},
        "clusters": cluster_counts(clusters),
        "positives": int(np.sum(y)),
        "rows": int(len(y)),
    }
