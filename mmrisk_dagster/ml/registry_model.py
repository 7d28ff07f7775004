"""The fused model as an MLflow pyfunc model: safetensors weights and a JSON card, no pickle.

MLflow logs it as a *model from code* (`registry_entry.py`, which it stores and runs at load
time), so nothing is serialized with pickle or cloudpickle. The one artifact is the ensemble's
folder: one `weights.safetensors` + `config.json` per member and `scoring_card.json`
(calibration and volatility scale). Input: rows of `modality_panel`; output: the columns of
`risk_scores`.
"""

from __future__ import annotations

from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from mmrisk_dagster.ml.panel import MODALITIES, VECTOR_COLUMN

MODEL_ARTIFACT = "ensemble"
RUNTIME_PACKAGES = ("torch", "safetensors", "numpy", "pandas", "scikit-learn")


class FusedRiskModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]  # mlflow.pyfunc is untyped
    def load_context(self, context) -> None:
        from mmrisk_dagster.ml.artifacts import load_scoring_card

        self.models, self.card = load_scoring_card(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.score(model_input)

    def score(self, panel: pd.DataFrame) -> pd.DataFrame:
        """What `predict` returns, without MLflow's check of the input against the signature,
        which walks every element of the array columns (12 s of the demo's two years): for a
        panel that has passed the graph's own blocking checks."""
        return score_panel(self.models, self.card, panel)


def score_panel(models, card: dict, panel: pd.DataFrame) -> pd.DataFrame:
    from mmrisk_dagster.ml.inputs import panel_arrays
    from mmrisk_dagster.ml.scoring import score

    return score(models, panel_arrays(panel, card["dims"]), card)


def entry_point() -> str:
    """The file MLflow logs as the model's code."""
    spec = find_spec("mmrisk_dagster.ml.registry_entry")
    if spec is None or spec.origin is None:
        raise ImportError("mmrisk_dagster.ml.registry_entry is missing from the installed package")
    return spec.origin


def input_example(panel: pd.DataFrame) -> pd.DataFrame:
    """A few panel rows: the first, and one without each modality where there is one, so that the
    signature marks what may be missing as optional."""
    rows = [panel.index[0]]
    for m in MODALITIES:
        absent = panel.index[~panel[f"{m}_present"].astype(bool)]
        if len(absent):
            rows.append(absent[0])
    example = panel.loc[list(dict.fromkeys(rows))].reset_index(drop=True)
    # MLflow checks the example after a JSON round trip, which reads every number as float64 and
    # cannot decode a null binary: a float32 array signature would refuse its own example (float32
    # inputs widen safely), and an absent chart is sent as empty bytes.
    for m in MODALITIES:
        column = f"{m}_{VECTOR_COLUMN[m]}"
        example[column] = [_serving_value(v, m) for v in example[column]]
    return example


def _serving_value(value, modality: str):
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float64)
    return b"" if value is None and VECTOR_COLUMN[modality] == "image" else value


def requirements() -> list[str]:
    """Pinned runtime packages; the model's code itself comes with `mmrisk-dagster`."""
    return ["mmrisk-dagster", *(f"{p}=={metadata.version(p)}" for p in RUNTIME_PACKAGES)]
