"""Panel rows -> arrays -> torch batches, shared by the shared space, the model and scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmrisk_dagster.ml.features import PRICE_FEATURES, PRICE_SUMMARY, unpack_charts
from mmrisk_dagster.ml.panel import MODALITIES, VECTOR_COLUMN
from mmrisk_dagster.ml.text import TEXT_DIM
from mmrisk_dagster.ml.text_summary import SUMMARIES

AGE_SCALE = 20.0


@dataclass
class PanelArrays:
    keys: pd.DataFrame
    inputs: dict[str, np.ndarray]
    present: np.ndarray  # (n, M) observed
    attend: np.ndarray  # (n, M) what the model may attend to under the missing-modality policy
    age: np.ndarray  # (n, M) business days, 0 where absent
    policy: str

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, index: np.ndarray) -> PanelArrays:
        return PanelArrays(
            keys=self.keys.iloc[index].reset_index(drop=True),
            inputs={m: v[index] for m, v in self.inputs.items()},
            present=self.present[index],
            attend=self.attend[index],
            age=self.age[index],
            policy=self.policy,
        )


def _stack(values: pd.Series, modality: str, dim: int, dtype) -> np.ndarray:
    out = np.zeros((len(values), dim), dtype=dtype)
    for i, v in enumerate(values.to_numpy()):
        # None, NaN and empty bytes all mean absent (MLflow's JSON has no null for a binary column).
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and not (isinstance(v, bytes) and not v):
            row = np.frombuffer(v, dtype=np.uint8) if isinstance(v, bytes) else np.asarray(v, dtype=dtype).ravel()
            if row.size != dim:
                raise ValueError(
                    f"modality_panel: a {modality} vector has {row.size} values where {dim} are expected "
                    "(the model's input size, or the panel's first vector): partitions of different widths "
                    "are mixed (the source gained or lost feature columns, or an older version wrote some), "
                    f"or the model was trained on vectors of another width. Re-materialize the {modality} "
                    "embedding and modality_panel over the range, then retrain the model"
                )
            out[i] = row
    return out


def infer_dims(panel: pd.DataFrame) -> dict[str, int]:
    """Flat input size of each modality observed at least once in `panel`. A text vector must end
    with its whole summary (`text_summary.SUMMARIES`) after the encoder's direction."""
    dims = {}
    for m in MODALITIES:
        column = panel[f"{m}_{VECTOR_COLUMN[m]}"][panel[f"{m}_present"].astype(bool)]
        if len(column):
            first = column.iloc[0]
            dims[m] = len(first) if isinstance(first, bytes) else int(np.asarray(first).size)
    if "prices" in dims and (dims["prices"] - len(PRICE_SUMMARY)) % len(PRICE_FEATURES):
        raise ValueError(
            f"modality_panel: prices vectors have {dims['prices']} values, not a window of "
            f"{len(PRICE_FEATURES)} features per day and the {len(PRICE_SUMMARY)}-value summary: the "
            "price_sequence_embedding partitions were written by an older version. Re-materialize "
            "price_sequence_embedding and modality_panel over the range"
        )
    for m, names in SUMMARIES.items():
        if m in dims and dims[m] != TEXT_DIM + len(names):
            raise ValueError(
                f"modality_panel: {m} vectors have {dims[m]} values where the text encoder's {TEXT_DIM} and the "
                f"{len(names)}-value summary make {TEXT_DIM + len(names)}: the {m}_embedding partitions were "
                f"written by an older version. Re-materialize {m}_embedding and modality_panel over the range"
            )
    return dims


def panel_arrays(panel: pd.DataFrame, dims: dict[str, int]) -> PanelArrays:
    """Arrays for the modalities in `dims` (others are ignored: the model never saw them)."""
    inputs = {}
    for m, dim in dims.items():
        dtype = np.uint8 if m == "chart" else np.float32
        inputs[m] = _stack(panel[f"{m}_{VECTOR_COLUMN[m]}"], m, dim, dtype)
    modalities = list(dims)
    present = (
        np.stack([panel[f"{m}_present"].to_numpy(bool) for m in modalities], axis=1)
        if modalities
        else np.zeros((len(panel), 0), bool)
    )
    age = (
        np.stack([panel[f"{m}_age"].fillna(0).to_numpy(np.float32) for m in modalities], axis=1)
        if modalities
        else np.zeros((len(panel), 0), np.float32)
    )
    policy = str(panel["missing_policy"].iloc[0]) if len(panel) and "missing_policy" in panel else "mask"
    attend = present.copy() if policy in ("mask", "cross_modal") else np.ones_like(present)
    return PanelArrays(
        keys=panel[["entity_id", "date"]].reset_index(drop=True),
        inputs=inputs,
        present=present,
        attend=attend,
        age=age,
        policy=policy,
    )


def to_tensors(arrays: PanelArrays, index: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Model-ready tensors for rows `index` (all rows when None); charts are unpacked here."""
    index = np.arange(len(arrays)) if index is None else index
    batch: dict[str, torch.Tensor] = {}
    for m, values in arrays.inputs.items():
        rows = values[index]
        if m.endswith(":token"):
            batch[m] = torch.from_numpy(rows)
        elif m == "chart":
            batch[m] = torch.from_numpy(unpack_charts(rows))
        else:
            batch[m] = torch.from_numpy(rows)
    batch["attend"] = torch.from_numpy(arrays.attend[index])
    batch["present"] = torch.from_numpy(arrays.present[index])
    batch["age"] = torch.from_numpy(arrays.age[index] / AGE_SCALE)
    return batch


def restrict(arrays: PanelArrays, modalities: list[str], dims: dict[str, int]) -> PanelArrays:
    """The same rows seen through `modalities` only (others dropped from inputs and masks)."""
    columns = [list(dims).index(m) for m in modalities]
    return PanelArrays(
        keys=arrays.keys,
        inputs={m: arrays.inputs[m] for m in modalities},
        present=arrays.present[:, columns],
        attend=arrays.attend[:, columns],
        age=arrays.age[:, columns],
        policy=arrays.policy,
    )
