"""The modality panel: one row per entity-date with every modality, a mask and an age.

A row exists where at least one modality was observed on that very date. Sparse modalities are carried
forward up to a maximum age (in business days), so a headline from two days ago still counts, with
its age recorded; older observations count as missing. How a missing modality is presented to the
model is the missing-modality policy:

* ``mask`` (default): absent vectors are zero and masked out of the model's attention;
* ``zero``: absent vectors are zero and shown to the model as if present;
* ``mean``: absent vectors are replaced by the cross-sectional mean of present ones that date;
* ``cross_modal``: stored like ``mask``; the model imputes the absent modality's shared-space
  vector from the present ones (`ml.fusion`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_ordinal

MODALITIES = ("fundamentals", "prices", "chart", "news", "social")
VECTOR_COLUMN = {m: ("image" if m == "chart" else "vector") for m in MODALITIES}
DEFAULT_MAX_AGE = {"fundamentals": 0, "prices": 0, "chart": 0, "news": 5, "social": 2}
POLICIES = ("mask", "zero", "mean", "cross_modal")


@dataclass(frozen=True)
class PanelSpec:
    max_age: Mapping[str, int]
    policy: str = "mask"

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"missing-modality policy must be one of {POLICIES}, got '{self.policy}'")


def _carry_forward(observed: pd.DataFrame, targets: pd.DataFrame, column: str, max_age: int) -> pd.DataFrame:
    """For each target entity-date, the newest observation at most `max_age` business days old."""
    left = targets.assign(t=business_day_ordinal(targets["date"])).sort_values("t")
    right = observed.assign(t_obs=business_day_ordinal(observed["date"]))[
        ["entity_id", "t_obs", column, *(["age_days"] if "age_days" in observed else [])]
    ].sort_values("t_obs")
    joined = pd.merge_asof(
        left,
        right,
        left_on="t",
        right_on="t_obs",
        by="entity_id",
        direction="backward",
        tolerance=max_age,
    )
    carried_age = joined["t"] - joined["t_obs"]
    own_age = joined.get("age_days", 0)
    joined["age"] = carried_age + own_age
    return joined.drop(columns=["t", "t_obs"] + (["age_days"] if "age_days" in joined else []))


def assemble_panel(embeddings: Mapping[str, pd.DataFrame], dates, spec: PanelSpec) -> pd.DataFrame:
    """Panel rows for `dates` from per-modality embedding frames (entity_id, date, vector/image)."""
    dates = pd.DatetimeIndex(dates)
    # Rows come from observations made that very day; carried-forward or as-of values (an old
    # filing, yesterday's news) only fill in rows that exist for another reason.
    present_today = [
        frame.loc[
            frame["date"].isin(dates) & (frame["age_days"] == 0 if "age_days" in frame else True), ["entity_id", "date"]
        ]
        for frame in embeddings.values()
        if len(frame)
    ]
    keys = (
        pd.concat(present_today).drop_duplicates().sort_values(["date", "entity_id"], ignore_index=True)
        if present_today
        else pd.DataFrame({"entity_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]")})
    )
    panel = keys.copy()
    for modality in MODALITIES:
        column = VECTOR_COLUMN[modality]
        frame = embeddings.get(modality)
        if frame is None or len(frame) == 0 or len(keys) == 0:
            panel[f"{modality}_{column}"] = None
            panel[f"{modality}_present"] = False
            panel[f"{modality}_age"] = np.nan
            continue
        joined = _carry_forward(frame, keys, column, spec.max_age.get(modality, 0))
        joined = keys.merge(joined, on=["entity_id", "date"], how="left")
        panel[f"{modality}_{column}"] = joined[column].to_numpy()
        panel[f"{modality}_present"] = joined[column].notna().to_numpy()
        panel[f"{modality}_age"] = joined["age"].where(joined[column].notna()).to_numpy(dtype=float)
    return apply_missing_policy(panel, spec.policy)


def _fill(values: pd.Series, present: pd.Series, fill) -> pd.Series:
    out = values.copy()
    missing = ~present.to_numpy()
    out[missing] = pd.Series([fill] * int(missing.sum()), index=out.index[missing], dtype=object)
    return out


def apply_missing_policy(panel: pd.DataFrame, policy: str) -> pd.DataFrame:
    panel = panel.copy()
    for modality in MODALITIES:
        column = f"{modality}_{VECTOR_COLUMN[modality]}"
        present = panel[f"{modality}_present"]
        observed = panel.loc[present, column]
        if observed.empty:
            continue
        template = observed.iloc[0]
        if modality == "chart":
            blank = bytes(len(template))
            if policy == "mean":
                images = np.stack([np.frombuffer(b, dtype=np.uint8) for b in observed])
                bits = np.unpackbits(images, axis=1).mean(axis=0) >= 0.5
                blank = bytes(np.packbits(bits))
            panel[column] = _fill(panel[column], present, blank)
        else:
            zeros = np.zeros_like(np.asarray(template, dtype=np.float32))
            panel[column] = _fill(panel[column], present, zeros)
            if policy == "mean":
                # Cross-sectional mean of the same date: uses nothing beyond date t.
                observed_mask = present.to_numpy()[:, None]
                matrix = np.stack(panel[column].to_numpy())
                frame = pd.DataFrame(np.where(observed_mask, matrix, np.nan))
                means = frame.groupby(panel["date"].to_numpy()).transform("mean").fillna(0.0)
                filled = np.where(observed_mask, matrix, means.to_numpy(np.float32))
                panel[column] = list(filled.astype(np.float32))
    # `<m>_present` always records what was observed; the policy column tells the model whether
    # filled-in vectors are to be attended to (zero, mean) or masked out (mask, cross_modal).
    panel["missing_policy"] = policy
    return panel
