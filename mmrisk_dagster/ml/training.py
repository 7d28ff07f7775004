"""The training loop, seed ensembles and the prepared arrays they train on (splits: ml/splits.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmrisk_dagster.ml.fusion import (
    BINARY_TASKS,
    TASKS,
    FusionConfig,
    MultitaskFusionModel,
    combine_losses,
    task_losses,
)
from mmrisk_dagster.ml.inputs import PanelArrays, panel_arrays, to_tensors
from mmrisk_dagster.ml.metrics import binary_metrics
from mmrisk_dagster.ml.prediction import ensemble_predict, fit_calibrator, predict, sigmoid, with_frozen_tokens
from mmrisk_dagster.ml.shared_space import drop_modalities
from mmrisk_dagster.ml.splits import SplitSpec, chronological_split, split_index
from mmrisk_dagster.ml.torch_utils import seed_everything, shuffled_batches
from mmrisk_dagster.ml.var import fit_var_multipliers


@dataclass
class LabelArrays:
    values: dict[str, np.ndarray]  # task -> (n,), NaN where unknown
    vol_mean: float
    vol_std: float
    next_return: np.ndarray  # (n,) the next day's log return (NaN where unknown), for the VaR multipliers

    def volatility(self, standardized_log_vol: np.ndarray) -> np.ndarray:
        """A predicted (standardized log) volatility back on the scale of daily log returns."""
        return np.exp(standardized_log_vol * self.vol_std + self.vol_mean)

    def batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        return {t: torch.from_numpy(v[index].astype(np.float32)) for t, v in self.values.items()}

    def known(self, task: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of `index` with a `task` label, and those labels."""
        y = self.values[task][index]
        keep = ~np.isnan(y)
        return index[keep], y[keep]


def align_labels(keys: pd.DataFrame, labels: pd.DataFrame, train_index: np.ndarray) -> LabelArrays:
    """Labels row-aligned with the panel; volatility standardized with training rows only."""
    merged = keys.merge(labels, on=["entity_id", "date"], how="left")
    values = {t: merged[t].to_numpy(dtype=float) for t in TASKS}
    train_vol = values["log_forward_vol"][train_index]
    train_vol = train_vol[~np.isnan(train_vol)]
    mean = float(train_vol.mean()) if len(train_vol) else 0.0
    std = float(train_vol.std()) if len(train_vol) > 1 else 1.0
    values["log_forward_vol"] = (values["log_forward_vol"] - mean) / max(std, 1e-6)
    return LabelArrays(
        values=values, vol_mean=mean, vol_std=max(std, 1e-6), next_return=merged["next_return"].to_numpy(dtype=float)
    )


def _validation_score(model, arrays: PanelArrays, labels: LabelArrays, index: np.ndarray) -> float:
    """Early-stopping score: the validation AUC of the first binary task (default, then movement)
    with both classes there, else -loss. Without default events the epoch is chosen on movement,
    the task the gate judges, not on a loss dominated by forward volatility."""
    sub = arrays.subset(index)
    out = predict(model, sub)
    if model.config.early_stopping == "auc":
        for task in BINARY_TASKS:
            y = labels.values[task][index]
            known = ~np.isnan(y)
            if known.sum() and 0 < y[known].sum() < known.sum():
                return binary_metrics(y[known], sigmoid(out[task][known]))["auc"]
    torch_out = {k: torch.from_numpy(v) for k, v in out.items()}
    losses = task_losses(torch_out, labels.batch(index))
    return -float(combine_losses(model, losses))


def train_multitask(
    arrays: PanelArrays,
    labels: LabelArrays,
    index: dict[str, np.ndarray],
    dims: dict[str, int],
    config: FusionConfig,
    seed: int,
    encoder_state: dict | None = None,
    on_epoch=None,
) -> tuple[MultitaskFusionModel, list[dict]]:
    """Train on index['train'], early-stop on index['validation']; returns the best epoch's model."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MultitaskFusionModel(dims, config)
    if encoder_state is not None:
        model.encoders.load_state_dict(encoder_state)
    for m in model.frozen():
        model.encoders[m].requires_grad_(False)
    arrays = with_frozen_tokens(model, arrays)
    model.fit_wide_scaling(to_tensors(arrays, index["train"]))
    encoder_params = [p for p in model.encoders.parameters() if p.requires_grad]
    wide_params = [*model.wide.parameters(), *model.vol_wide.parameters(), model.availability]
    grouped = {id(p) for p in [*model.encoders.parameters(), *wide_params]}
    other_params = [p for p in model.parameters() if id(p) not in grouped]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.lr * config.encoder_lr_scale},
            # The wide term is a logistic regression: it must converge within the one or two
            # epochs that early stopping typically keeps.
            {"params": wide_params, "lr": config.lr * config.wide_lr_scale},
            {"params": other_params, "lr": config.lr},
        ],
        weight_decay=config.weight_decay,
    )
    # Rows need a label for some task and at least one modality to attend to.
    labelled = np.zeros(len(arrays), dtype=bool)
    for values in labels.values.values():
        labelled |= ~np.isnan(values)
    usable = labelled & arrays.attend.any(axis=1)
    train_rows = index["train"][usable[index["train"]]]
    validation_rows = index["validation"][arrays.attend[index["validation"]].any(axis=1)]
    best_score, best_state, stale, history = -np.inf, None, 0, []
    for epoch in range(config.epochs):
        started = time.perf_counter()
        model.train()
        total, batches = 0.0, 0
        for rows in shuffled_batches(train_rows, config.batch_size, generator):
            batch = to_tensors(arrays, rows)
            attend = drop_modalities(batch["attend"], config.modality_dropout, generator)
            losses = task_losses(model(batch, attend), labels.batch(rows), config.default_pos_weight)
            if not losses:
                continue
            loss = combine_losses(model, losses)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        score = _validation_score(model, arrays, labels, validation_rows)
        record = {
            "epoch": epoch,
            "train_loss": total / max(batches, 1),
            "validation_score": score,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if score > best_score:
            best_score, stale = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


def train_ensemble(
    arrays, labels, index, dims, config: FusionConfig, seeds: list[int], encoder_state=None, on_epoch=None
):
    """One member per seed; returns the members and their training histories."""
    if encoder_state is not None:
        # Every member starts from the same frozen encoders: encode their inputs once for all.
        template = MultitaskFusionModel(dims, config)
        template.encoders.load_state_dict(encoder_state)
        arrays = with_frozen_tokens(template, arrays)
    models, histories = [], []
    for seed in seeds:
        model, history = train_multitask(
            arrays,
            labels,
            index,
            dims,
            config,
            seed,
            encoder_state,
            on_epoch=(lambda record, seed=seed: on_epoch(seed, record)) if on_epoch else None,
        )
        models.append(model)
        histories.append(history)
    return models, histories


@dataclass
class PreparedData:
    arrays: PanelArrays
    split: dict[str, pd.DatetimeIndex]
    index: dict[str, np.ndarray]
    labels: LabelArrays


def prepare(panel: pd.DataFrame, training_labels: pd.DataFrame, dims: dict[str, int], spec: SplitSpec) -> PreparedData:
    """Panel arrays, the chronological split and row-aligned labels."""
    arrays = panel_arrays(panel, dims)
    split = chronological_split(arrays.keys["date"], spec)
    index = split_index(arrays.keys, split)
    return PreparedData(arrays, split, index, align_labels(arrays.keys, training_labels, index["train"]))


@dataclass
class FittedEnsemble:
    models: list[MultitaskFusionModel]
    histories: list[list[dict]]
    calibrator: dict
    var_multipliers: dict
    data: PreparedData

    def card_fields(self) -> dict:
        """What scoring needs besides the weights: calibration, volatility scale, VaR multipliers, the split."""
        return {
            "calibrator": self.calibrator,
            "var_multipliers": self.var_multipliers,
            "vol_mean": self.data.labels.vol_mean,
            "vol_std": self.data.labels.vol_std,
            "split": {k: [str(v[0].date()), str(v[-1].date())] for k, v in self.data.split.items()},
            "histories": self.histories,
        }

    def best_validation_scores(self) -> dict[str, float]:
        return {
            f"member{i}_best_validation_score": max(r["validation_score"] for r in h)
            for i, h in enumerate(self.histories)
        }


def fit_ensemble(
    data: PreparedData, encoder_state: dict, dims: dict[str, int], config: FusionConfig, seeds: list[int], on_epoch=None
) -> FittedEnsemble:
    """Members trained on the training split, early-stopped on validation; the default
    probability calibrated on validation (Platt) for the member-averaged score, and the VaR
    multipliers of its predicted volatility fitted on validation (`ml.var`)."""
    models, histories = train_ensemble(
        data.arrays, data.labels, data.index, dims, config, seeds, encoder_state, on_epoch
    )
    validation = data.index["validation"]
    predicted = ensemble_predict(models, data.arrays.subset(validation))
    calibrator = fit_calibrator(data.labels.values["default"][validation], predicted["default"])
    var_multipliers = fit_var_multipliers(
        data.labels.next_return[validation], data.labels.volatility(predicted["log_forward_vol"])
    )
    return FittedEnsemble(models, histories, calibrator, var_multipliers, data)
