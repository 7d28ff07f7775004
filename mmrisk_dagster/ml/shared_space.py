"""A shared d-dimensional space for all modalities, learned by cross-modal contrastive alignment.

Each modality has its own encoder (`ml.encoders`). Training pulls together the vectors of
different modalities of the same entity-date and pushes apart those of other rows in the batch
(symmetric InfoNCE over every pair of modalities present in both rows), with modality dropout so
the space does not lean on any one modality. It is fitted on training dates only.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mmrisk_dagster.ml.encoders import build_encoders
from mmrisk_dagster.ml.inputs import PanelArrays, to_tensors
from mmrisk_dagster.ml.torch_utils import seed_everything, shuffled_batches


@dataclass(frozen=True)
class SharedSpaceConfig:
    d: int = 64
    epochs: int = 6
    lr: float = 2e-3
    batch_size: int = 256
    temperature: float = 0.1
    modality_dropout: float = 0.2
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class SharedSpace(nn.Module):
    def __init__(self, dims: dict[str, int], d: int):
        super().__init__()
        self.dims = dict(dims)
        self.d = d
        self.encoders = build_encoders(dims, d)

    @property
    def modalities(self) -> list[str]:
        return list(self.dims)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: F.normalize(enc(batch[m]), dim=-1) for m, enc in self.encoders.items()}


def info_nce(
    vectors: dict[str, torch.Tensor], present: torch.Tensor, modalities: list[str], temperature: float
) -> torch.Tensor:
    """Mean symmetric InfoNCE over modality pairs, on the rows where both are present."""
    losses = []
    for (i, a), (j, b) in itertools.combinations(enumerate(modalities), 2):
        rows = present[:, i] & present[:, j]
        if rows.sum() < 2:
            continue
        logits = vectors[a][rows] @ vectors[b][rows].T / temperature
        target = torch.arange(logits.shape[0])
        losses.append((F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)
    return torch.stack(losses).mean() if losses else torch.zeros((), requires_grad=True)


def drop_modalities(present: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Randomly hide present modalities, always keeping at least one per row."""
    if rate <= 0:
        return present
    keep = torch.rand(present.shape, generator=generator) >= rate
    dropped = present & keep
    empty = dropped.sum(dim=1) == 0
    return torch.where(empty[:, None], present, dropped)


def fit_shared_space(train: PanelArrays, dims: dict[str, int], config: SharedSpaceConfig, on_epoch=None):
    """Train on `train` rows only. Returns the model and the loss curve per epoch."""
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = SharedSpace(dims, config.d)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    trainable = np.flatnonzero(train.present.sum(axis=1) >= 2)
    history = []
    for epoch in range(config.epochs):
        started = time.perf_counter()
        model.train()
        total, batches = 0.0, 0
        for index in shuffled_batches(trainable, config.batch_size, generator):
            batch = to_tensors(train, index)
            present = drop_modalities(batch["present"], config.modality_dropout, generator)
            loss = info_nce(model(batch), present, model.modalities, config.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        record = {"epoch": epoch, "loss": total / max(batches, 1), "seconds": time.perf_counter() - started}
        history.append(record)
        if on_epoch:
            on_epoch(record)
    return model.eval(), history


@torch.no_grad()
def project(model: SharedSpace, arrays: PanelArrays, batch_size: int = 2048) -> dict[str, np.ndarray]:
    """Shared-space vectors per modality (n, d); rows where the modality is absent are zero."""
    out = {m: np.zeros((len(arrays), model.d), dtype=np.float32) for m in model.modalities}
    for start in range(0, len(arrays), batch_size):
        index = np.arange(start, min(start + batch_size, len(arrays)))
        batch = to_tensors(arrays, index)
        vectors = model(batch)
        for i, m in enumerate(model.modalities):
            present = batch["present"][:, i].numpy()
            out[m][index[present]] = vectors[m][present].numpy()
    return out


def retrieval_recall(
    vectors: dict[str, np.ndarray],
    present: np.ndarray,
    modalities: list[str],
    k: int = 10,
    pool: int = 500,
    seed: int = 0,
) -> dict:
    """Cross-modal recall@k: query modality a of a row, rank modality b of `pool` rows.

    The random baseline is k / pool. Reported per ordered pair and averaged.
    """
    rng = np.random.default_rng(seed)
    pairs = {}
    for (i, a), (j, b) in itertools.permutations(enumerate(modalities), 2):
        rows = np.flatnonzero(present[:, i] & present[:, j])
        if len(rows) <= k:
            continue
        sample = rng.choice(rows, size=min(pool, len(rows)), replace=False)
        sims = vectors[a][sample] @ vectors[b][sample].T
        rank_of_true = (sims > np.diag(sims)[:, None]).sum(axis=1)
        pairs[f"{a}->{b}"] = {
            "recall": float((rank_of_true < k).mean()),
            "random": k / len(sample),
            "pool": int(len(sample)),
        }
    recalls = [p["recall"] for p in pairs.values()]
    randoms = [p["random"] for p in pairs.values()]
    return {
        "k": k,
        "mean_recall": float(np.mean(recalls)) if recalls else float("nan"),
        "mean_random": float(np.mean(randoms)) if randoms else float("nan"),
        "pairs": pairs,
    }


def similar_entity_dates(
    frame: pd.DataFrame, entity_id: str, date, query: str = "fused", against: str = "fused", top: int = 10
) -> pd.DataFrame:
    """Entity-dates of a `shared_embeddings` frame closest (cosine) to one entity-date.

    `query` picks the modality vector of the given entity-date (or `fused`, the mean of its
    present modalities); `against` picks which vectors to search, so `query="news",
    against="prices"` finds the price windows that look most like that day's news.
    """

    def column(name: str) -> str:
        return "fused_shared" if name == "fused" else f"{name}_shared"

    row = frame[(frame["entity_id"] == entity_id) & (frame["date"] == pd.Timestamp(date))]
    if row.empty:
        raise KeyError(f"no shared embedding for {entity_id} on {pd.Timestamp(date).date()}")
    if query != "fused" and not bool(row[f"{query}_present"].iloc[0]):
        raise KeyError(f"{entity_id} has no {query} observation on {pd.Timestamp(date).date()}")
    candidates = frame if against == "fused" else frame[frame[f"{against}_present"].astype(bool)]
    candidates = candidates[~((candidates["entity_id"] == entity_id) & (candidates["date"] == pd.Timestamp(date)))]
    vectors = np.stack(candidates[column(against)].to_numpy()).astype(np.float32)
    target = np.asarray(row[column(query)].iloc[0], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(target)), 1e-12)
    similarity = vectors @ target / np.maximum(norms, 1e-12)
    order = np.argsort(-similarity)[:top]
    out = candidates.iloc[order][["entity_id", "date"]].reset_index(drop=True)
    out["similarity"] = similarity[order]
    return out


def shared_embedding_frame(model: SharedSpace, arrays: PanelArrays) -> pd.DataFrame:
    """entity_id, date, `<m>_shared` and `<m>_present` per modality, and `fused_shared`: the mean
    of the present modalities' vectors (one point per entity-date for similarity search)."""
    vectors = project(model, arrays)
    stacked = np.stack([vectors[m] for m in model.modalities], axis=1)
    present = arrays.present.astype(np.float32)
    fused = (stacked * present[..., None]).sum(1) / np.maximum(present.sum(1, keepdims=True), 1)
    out = arrays.keys.copy()
    for i, m in enumerate(model.modalities):
        out[f"{m}_shared"] = list(vectors[m])
        out[f"{m}_present"] = arrays.present[:, i]
    out["fused_shared"] = list(fused.astype(np.float32))
    return out


def fit_on_training_window(
    arrays: PanelArrays,
    dims: dict[str, int],
    train_index: np.ndarray,
    held_out_index: np.ndarray,
    config: SharedSpaceConfig,
):
    """Fit on the training rows only; measure retrieval on held-out rows."""
    model, history = fit_shared_space(arrays.subset(train_index), dims, config)
    held_out = arrays.subset(held_out_index)
    retrieval = retrieval_recall(project(model, held_out), held_out.present, model.modalities, seed=config.seed)
    return model, history, retrieval
