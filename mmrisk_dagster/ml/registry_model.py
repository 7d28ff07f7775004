"""The fused model as an MLflow pyfunc model: safetensors weights and a JSON card, no pickle.

MLflow logs it as a *model from code*: it stores this file's source and runs it at load time
(`mlflow.models.set_model` below), so nothing is serialized with pickle or cloudpickle. The
artifacts are the ensemble's folder (one `weights.safetensors` + `config.json` per member) and
the scoring card (calibration and volatility scale). Input: rows of `modality_panel`; output:
the columns of `risk_scores`.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd

MODEL_ARTIFACT, CARD_ARTIFACT = "ensemble", "scoring_card"
# What scoring reads from the model card besides the weights.
CARD_FIELDS = ("version", "dims", "config", "calibrator", "vol_mean", "vol_std")


class FusedRiskModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from mmrisk_dagster.ml.artifacts import load_members

        self.card = json.loads(Path(context.artifacts[CARD_ARTIFACT]).read_text())
        self.models = load_members(Path(context.artifacts[MODEL_ARTIFACT]), len(self.card["member_dirs"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from mmrisk_dagster.ml.inputs import panel_arrays
        from mmrisk_dagster.ml.scoring import score

        return score(self.models, panel_arrays(model_input, self.card["dims"]), self.card)


mlflow.models.set_model(FusedRiskModel())
