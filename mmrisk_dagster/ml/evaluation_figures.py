"""The pictures of a model evaluation, attached to `model_evaluation` and its MLflow run."""

from __future__ import annotations

import numpy as np

from mmrisk_dagster.ml.fusion import BINARY_TASKS
from mmrisk_dagster.ml.metrics import auc_or_nan
from mmrisk_dagster.ml.prediction import apply_calibrator, ensemble_predict


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
        keep, y = labels.known(task, test_rows)
        if len(y) == 0 or y.min() == y.max():
            continue
        p = (
            risk[np.searchsorted(test_rows, keep)]
            if task == "default"
            else pred[task][np.searchsorted(test_rows, keep)]
        )
        figures[f"{task}: ROC and reliability (test)"] = plots.roc_and_reliability(task, y, p, auc_or_nan(y, p))
    keep, y = labels.known("default", test_rows)
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
