"""Daily risk scores with per-modality explanations, and the alerts they raise."""

import dagster as dg
import pandas as pd
from pydantic import Field

from mmrisk_dagster.automation import SCORES_FRESHNESS
from mmrisk_dagster.catalog import table_preview
from mmrisk_dagster.ml.scoring import alerts
from mmrisk_dagster.partitions import daily_partitions, single_run, with_partition_metadata
from mmrisk_dagster.resources.tracking import MlflowResource


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
    scores = mlflow.load_champion().unwrap_python_model().score(modality_panel)
    context.add_output_metadata({"model_uri": mlflow.champion_uri()})
    return with_partition_metadata(context, scores)


class AlertConfig(dg.Config):
    probability_threshold: float = Field(
        default=0.2, description="Alert when the calibrated default probability reaches this."
    )
    percentile: float = Field(
        default=0.98, description="Alert when the day's cross-sectional rank of the probability reaches this."
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="scoring",
    freshness_policy=SCORES_FRESHNESS,
    kinds={"pandas", "parquet"},
    description="Entity-dates whose default probability crosses the threshold or the cross-sectional "
    "percentile, with the modality that raised the default log-odds most and the most attended one.",
)
def risk_alerts(context: dg.AssetExecutionContext, config: AlertConfig, risk_scores: pd.DataFrame) -> pd.DataFrame:
    flagged = alerts(risk_scores, config.probability_threshold, config.percentile)
    shown = ["entity_id", "default_probability", "percentile", "reason", "top_default_driver"]
    return with_partition_metadata(
        context,
        flagged,
        lambda key, rows: {
            "top_alerts": table_preview(rows.sort_values("default_probability", ascending=False)[shown], limit=5)
        },
    )


scoring_assets = [risk_scores, risk_alerts]
