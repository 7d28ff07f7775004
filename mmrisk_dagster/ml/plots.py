"""Pictures of the model, drawn headlessly (matplotlib's Agg backend) as small PNGs.

Each function takes plain arrays and returns PNG bytes; `markdown_images` embeds them as base64
data URIs, which the Dagster UI renders inside markdown metadata. Every picture is kept under
`MAX_PNG_BYTES` (small figure, modest dpi, at most `MAX_POINTS` scattered points).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

MAX_PNG_BYTES = 150_000
MAX_POINTS = 3000
_SIZE = (6.4, 3.6)
_DPI = 80


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=_DPI)
    plt.close(figure)
    data = buffer.getvalue()
    if len(data) > MAX_PNG_BYTES:
        raise ValueError(f"a plot came out at {len(data)} bytes, over the {MAX_PNG_BYTES} limit: draw fewer points")
    return data


def _roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-p, kind="stable")
    hits = y[order]
    tpr = np.r_[0.0, np.cumsum(hits) / max(hits.sum(), 1)]
    fpr = np.r_[0.0, np.cumsum(1 - hits) / max((1 - hits).sum(), 1)]
    return fpr, tpr


def roc_and_reliability(task: str, y: np.ndarray, p: np.ndarray, auc: float, bins: int = 10) -> bytes:
    """ROC curve and reliability diagram (mean predicted vs observed rate per probability bin)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=_SIZE)
    fpr, tpr = _roc_curve(np.asarray(y, float), np.asarray(p, float))
    left.plot(fpr, tpr, color="tab:blue", label=f"AUC {auc:.3f}")
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    left.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{task}: ROC (test)")
    left.legend(loc="lower right")
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    filled = counts > 0
    predicted = np.bincount(which, weights=p, minlength=bins)[filled] / counts[filled]
    observed = np.bincount(which, weights=y, minlength=bins)[filled] / counts[filled]
    right.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    right.plot(predicted, observed, marker="o", color="tab:orange")
    right.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title=f"{task}: reliability (test)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    return _png(figure)


def score_distribution(p: np.ndarray, y: np.ndarray) -> bytes:
    """Histogram of calibrated default probabilities on test, split by the observed outcome."""
    figure, axis = plt.subplots(figsize=_SIZE)
    bins = np.linspace(0, max(float(np.max(p)) if len(p) else 1.0, 1e-3), 30)
    for outcome, colour, label in ((0, "tab:blue", "no default"), (1, "tab:red", "default")):
        axis.hist(p[y == outcome], bins=bins.tolist(), color=colour, alpha=0.6, density=True, label=label)
    axis.set(xlabel="calibrated default probability", ylabel="density", title="Score distribution (test)")
    axis.legend()
    return _png(figure)


def attention_by_decile(attention: np.ndarray, modalities: list[str], risk: np.ndarray) -> bytes:
    """Mean attention weight per modality overall and within each decile of default risk."""
    figure, (left, right) = plt.subplots(1, 2, figsize=_SIZE, gridspec_kw={"width_ratios": [1, 2]})
    left.bar(modalities, attention.mean(axis=0), color=[f"C{i}" for i in range(len(modalities))])
    left.set(title="Attention overall", ylabel="mean weight")
    plt.setp(left.get_xticklabels(), rotation=45, ha="right")
    deciles = (
        pd.qcut(pd.Series(risk).rank(method="first"), 10, labels=False).to_numpy()
        if len(risk) >= 10
        else np.zeros(len(risk), int)
    )
    by_decile = np.array([attention[deciles == d].mean(axis=0) for d in np.unique(deciles)])
    bottom = np.zeros(len(by_decile))
    for i, m in enumerate(modalities):
        right.bar(np.unique(deciles) + 1, by_decile[:, i], bottom=bottom, color=f"C{i}", label=m)
        bottom += by_decile[:, i]
    right.set(
        title="Attention by default-risk decile",
        xlabel="decile (10 = riskiest)",
        ylabel="mean weight",
        xticks=np.unique(deciles) + 1,
    )
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(figure)


def coverage_over_time(dates: pd.Series, present: np.ndarray, modalities: list[str]) -> bytes:
    """Share of the panel's entity-dates with each modality present, per date."""
    frame = pd.DataFrame(present, columns=modalities).assign(date=pd.to_datetime(np.asarray(dates)))
    coverage = frame.groupby("date")[modalities].mean()
    figure, axis = plt.subplots(figsize=_SIZE)
    for i, m in enumerate(modalities):
        axis.plot(coverage.index, coverage[m], color=f"C{i}", label=m, linewidth=1)
    axis.set(title="Modality coverage over time", ylabel="share of entity-dates", ylim=(0, 1.05))
    axis.legend(fontsize=7, ncol=len(modalities), loc="lower center")
    figure.autofmt_xdate()
    return _png(figure)


def shared_space_projection(vectors: dict[str, np.ndarray], risk: dict[str, np.ndarray], seed: int = 0) -> bytes:
    """The shared space on two principal axes: points coloured by modality, and by default risk."""
    rng = np.random.default_rng(seed)
    per_modality = max(MAX_POINTS // max(len(vectors), 1), 1)
    samples = {}
    for m, x in vectors.items():
        keep = rng.choice(len(x), size=min(per_modality, len(x)), replace=False) if len(x) else np.array([], int)
        samples[m] = (x[keep], risk[m][keep])
    stacked = np.concatenate([x for x, _ in samples.values()]) if samples else np.zeros((0, 2))
    centre = stacked.mean(axis=0) if len(stacked) else 0.0
    axes = (
        np.linalg.svd(stacked - centre, full_matrices=False)[2][:2].T
        if len(stacked) > 2
        else np.eye(stacked.shape[1])[:, :2]
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=_SIZE, sharex=True, sharey=True)
    for i, (m, (x, _)) in enumerate(samples.items()):
        xy = (x - centre) @ axes
        left.scatter(xy[:, 0], xy[:, 1], s=3, color=f"C{i}", label=m, alpha=0.5)
    left.set(title="Shared space by modality", xlabel="PC 1", ylabel="PC 2")
    left.legend(fontsize=7, markerscale=3)
    xy = (stacked - centre) @ axes
    colours = np.concatenate([r for _, r in samples.values()]) if samples else np.zeros(0)
    points = right.scatter(xy[:, 0], xy[:, 1], s=3, c=colours, cmap="viridis", alpha=0.6)
    right.set(title="… by default probability", xlabel="PC 1")
    figure.colorbar(points, ax=right)
    return _png(figure)


def training_curves(histories: list[list[dict]], seeds: list[int]) -> bytes:
    """Training loss and validation score per epoch, one line per seed."""
    figure, (left, right) = plt.subplots(1, 2, figsize=_SIZE)
    for i, (seed, history) in enumerate(zip(seeds, histories)):
        epochs = [r["epoch"] for r in history]
        left.plot(epochs, [r["train_loss"] for r in history], color=f"C{i}", marker=".", label=f"seed {seed}")
        right.plot(epochs, [r["validation_score"] for r in history], color=f"C{i}", marker=".", label=f"seed {seed}")
    left.set(title="Training loss", xlabel="epoch")
    right.set(title="Validation score (early stopping)", xlabel="epoch")
    left.legend(fontsize=7)
    return _png(figure)


def markdown_images(figures: dict[str, bytes]) -> str:
    """Markdown embedding each PNG under its title as a base64 data URI."""
    return "\n\n".join(
        f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
        for title, png in figures.items()
    )
