"""Daily risk scores with per-modality explanations, and the alerts they raise."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.automation import SCORES_FRESHNESS
from mmrisk_dagster.ml.scoring import alerts
from mmrisk_dagster.partitions import daily_partitions, single_run
from mmrisk_dagster.resources import MlflowResource


class ModelGateError(RuntimeError):
    """Raised when scoring runs before the current model has been evaluated."""


@dg.asset(
    ins={"modality_panel": dg.AssetIn(), "multitask_model": dg.AssetIn(), "model_evaluation": dg.AssetIn()},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="scoring",
    freshness_policy=SCORES_FRESHNESS,
    kinds={"pytorch", "parquet"},
    description="Per entity-date, from the registered `champion` model (the latest version that passed its "
    "gate): calibrated default probability, predicted volatility and one-day VaR 95/99, movement "
    "probability, expected news tone, the explanation (each modality's attention weight and the default "
    "log-odds its linear term adds, with the modality that raised it most) and model version.",
)
def risk_scores(
    context: dg.AssetExecutionContext,
    modality_panel: pd.DataFrame,
    multitask_model: dict,
    model_evaluation: dict,
    mlflow: MlflowResource,
) -> pd.DataFrame:
    if model_evaluation["model_version"] != multitask_model["version"]:
        raise ModelGateError(
            f"model_evaluation describes model {model_evaluation['model_version']} but the current model is "
            f"{multitask_model['version']}: materialize model_evaluation (and its gate) first"
        )
    champion = mlflow.load_champion()
    scores = champion.predict(modality_panel)
    context.add_output_metadata({"model_version": str(scores["model_version"].iloc[0]) if len(scores) else "", "model_uri": mlflow.champion_uri()})
    return scores


class AlertConfig(dg.Config):
    probability_threshold: float = 0.2
    percentile: float = 0.98


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="scoring",
    freshness_policy=SCORES_FRESHNESS,
    kinds={"pandas", "parquet"},
    description="Entity-dates whose default probability crosses the threshold or the cross-sectional "
    "percentile, with the modality that raised the default log-odds most and the most attended one.",
)
def risk_alerts(config: AlertConfig, risk_scores: pd.DataFrame) -> pd.DataFrame:
    return alerts(risk_scores, config.probability_threshold, config.percentile)


scoring_assets = [risk_scores, risk_alerts]
