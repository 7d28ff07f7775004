"""Prediction with a fitted fusion model or a seed ensemble of them: raw outputs per row, the
member-averaged probabilities, and the default probability's Platt calibration (fitted and applied).

Training (early stopping, calibration) and evaluation both predict through this module; neither
imports the other for it.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from mmrisk_dagster.ml.fusion import BINARY_TASKS, MultitaskFusionModel, token_key
from mmrisk_dagster.ml.inputs import PanelArrays, to_tensors


@torch.no_grad()
def with_tokens(
    model: MultitaskFusionModel, arrays: PanelArrays, modalities: list[str], batch_size: int = 2048
) -> PanelArrays:
    """`arrays` with the encoder output of each of `modalities` computed once (`<m>:token`); a raw
    input is kept only where the wide term still reads it."""
    inputs = dict(arrays.inputs)
    for m in modalities:
        if token_key(m) in inputs or m not in inputs:
            continue
        encoder = model.encoders[m].eval()
        single = PanelArrays(arrays.keys, {m: inputs[m]}, arrays.present, arrays.attend, arrays.age, arrays.policy)
        chunks = [
            encoder(to_tensors(single, np.arange(i, min(i + batch_size, len(arrays))))[m]).numpy()
            for i in range(0, len(arrays), batch_size)
        ]
        inputs[token_key(m)] = np.concatenate(chunks) if chunks else np.zeros((0, model.config.d), np.float32)
        if m not in model.wide:
            del inputs[m]
    return PanelArrays(arrays.keys, inputs, arrays.present, arrays.attend, arrays.age, arrays.policy)


def with_frozen_tokens(model: MultitaskFusionModel, arrays: PanelArrays) -> PanelArrays:
    """Frozen modalities' tokens computed once: their encoders never change during training."""
    return with_tokens(model, arrays, model.frozen())


@torch.no_grad()
def predict(
    model: MultitaskFusionModel, arrays: PanelArrays, attend: np.ndarray | None = None, batch_size: int = 2048
) -> dict[str, np.ndarray]:
    """Raw outputs for every row: logits, standardized volatility, class logits, attention."""
    model.eval()
    arrays = with_frozen_tokens(model, arrays)
    outputs: dict[str, list] = {}
    attend = arrays.attend if attend is None else attend
    for start in range(0, len(arrays), batch_size):
        index = np.arange(start, min(start + batch_size, len(arrays)))
        batch = to_tensors(arrays, index)
        out = model(batch, torch.from_numpy(attend[index]))
        for key, value in out.items():
            outputs.setdefault(key, []).append(value.numpy())
    if not outputs:
        m = len(model.modalities)
        return {
            "default": np.zeros(0),
            "log_forward_vol": np.zeros(0),
            "movement": np.zeros(0),
            "sentiment": np.zeros((0, 3)),
            "attention": np.zeros((0, m)),
            "wide": np.zeros((0, m)),
        }
    return {k: np.concatenate(v) for k, v in outputs.items()}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def ensemble_predict(models: list[MultitaskFusionModel], arrays: PanelArrays, attend: np.ndarray | None = None) -> dict:
    """Member-averaged probabilities, volatility, sentiment distribution, attention and the wide
    term's per-modality default logits."""
    return ensemble_predictions(models, arrays, [attend])[0]


def ensemble_predictions(
    models: list[MultitaskFusionModel], arrays: PanelArrays, attends: list[np.ndarray | None]
) -> list[dict]:
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


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_calibrator(y: np.ndarray, p: np.ndarray) -> dict:
    """Platt scaling fitted on validation: P(default) = sigmoid(a * logit(p) + b).

    A two-parameter map rather than isotonic regression: a validation window holds only a few
    default events, and isotonic steps fitted on them tie whole groups of entities at one value.
    """
    known = ~np.isnan(y)
    if known.sum() < 10 or y[known].min() == y[known].max():
        return {"method": "platt", "a": 1.0, "b": 0.0}
    logits = logit(p[known])[:, None]
    fitted = LogisticRegression(C=1e4, max_iter=1000).fit(logits, y[known])
    return {"method": "platt", "a": float(fitted.coef_[0, 0]), "b": float(fitted.intercept_[0])}


def apply_calibrator(calibrator: dict, p: np.ndarray) -> np.ndarray:
    return sigmoid(calibrator["a"] * logit(p) + calibrator["b"])
