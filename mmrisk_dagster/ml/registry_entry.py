"""The code MLflow stores with each registered model and runs to load it (models from code)."""

import mlflow

from mmrisk_dagster.ml.registry_model import FusedRiskModel

mlflow.models.set_model(FusedRiskModel())
