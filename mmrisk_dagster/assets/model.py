"""Labels, the multitask fusion model (tracked and registered in MLflow) and its evaluation."""

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from mmrisk_dagster.ml.artifacts import load_multitask, load_shared_space, save_multitask
from mmrisk_dagster.ml.baselines import entity_date_texts
from mmrisk_dagster.ml.evaluation import evaluate, gate_decision
from mmrisk_dagster.ml.evaluation_figures import evaluation_figures
from mmrisk_dagster.ml.fusion import DEFAULT_TASK_WEIGHTS, FusionConfig
from mmrisk_dagster.ml.labels import build_labels
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE
from mmrisk_dagster.ml.plots import markdown_images, training_curves
from mmrisk_dagster.ml.registry_model import input_example, score_panel
from mmrisk_dagster.ml.training import fit_ensemble, prepare
from mmrisk_dagster.ml.var import daily_returns
from mmrisk_dagster.partitions import single_run
from mmrisk_dagster.resources import TrainingWindowResource, WarehouseResource
from mmrisk_dagster.resources.tracking import MlflowResource


@dg.asset(
    group_name="model",
    backfill_policy=single_run,
    kinds={"pandas", "parquet"},
    description="Per entity-date labels: default within the horizon, log forward volatility, "
    "next-day movement (StockNet thresholds) and majority news sentiment; plus each label's end date.",
)
def training_labels(
    prices: pd.DataFrame, risk_events: pd.DataFrame, news: pd.DataFrame, training_window: TrainingWindowResource
) -> pd.DataFrame:
    return build_labels(prices, risk_events, news, training_window.horizon_days)


class MultitaskConfig(dg.Config):
    """Run config of the model; defaults come from `ml.fusion.FusionConfig`."""

    seeds: list[int] = Field(
        default=[0, 1, 2], description="One ensemble member per seed (at least 3 for a mean ± std)."
    )
    epochs: int = Field(default=FusionConfig.epochs, description="Maximum passes over the training split.")
    lr: float = Field(default=FusionConfig.lr, description="Adam learning rate.")
    hidden: int = Field(default=FusionConfig.hidden, description="Width of the task heads' hidden layer.")
    dropout: float = Field(default=FusionConfig.dropout, description="Dropout in the heads.")
    modality_dropout: float = Field(
        default=FusionConfig.modality_dropout,
        description="Probability of hiding a present modality in a step (ModDrop).",
    )
    batch_size: int = Field(default=FusionConfig.batch_size, description="Entity-dates per step.")
    patience: int = Field(
        default=FusionConfig.patience, description="Epochs without a better validation score before stopping."
    )
    default_pos_weight: float = Field(
        default=FusionConfig.default_pos_weight, description="Weight of a default (positive) row in the default loss."
    )
    weight_default: float = Field(
        default=DEFAULT_TASK_WEIGHTS["default"], description="Loss weight of the default task."
    )
    weight_volatility: float = Field(
        default=DEFAULT_TASK_WEIGHTS["log_forward_vol"], description="Loss weight of the volatility task."
    )
    weight_movement: float = Field(
        default=DEFAULT_TASK_WEIGHTS["movement"], description="Loss weight of the movement task."
    )
    weight_sentiment: float = Field(
        default=DEFAULT_TASK_WEIGHTS["sentiment"], description="Loss weight of the sentiment task."
    )
    uncertainty_weighting: bool = Field(
        default=FusionConfig.uncertainty_weighting,
        description="Learn the task weights (Kendall et al. 2018) instead of the fixed ones.",
    )
    wide: bool = Field(
        default=FusionConfig.wide,
        description="Add the linear (wide) term on each modality's summary to the default logit.",
    )
    wide_lr_scale: float = Field(
        default=FusionConfig.wide_lr_scale, description="Learning-rate multiplier of the wide term."
    )

    def fusion_config(self, d: int, policy: str) -> FusionConfig:
        return FusionConfig(
            d=d,
            hidden=self.hidden,
            dropout=self.dropout,
            modality_dropout=self.modality_dropout,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            patience=self.patience,
            default_pos_weight=self.default_pos_weight,
            task_weights={
                "default": self.weight_default,
                "log_forward_vol": self.weight_volatility,
                "movement": self.weight_movement,
                "sentiment": self.weight_sentiment,
            },
            uncertainty_weighting=self.uncertainty_weighting,
            policy=policy,
            wide=self.wide,
            wide_lr_scale=self.wide_lr_scale,
        )


@dg.asset(
    group_name="model",
    backfill_policy=single_run,
    kinds={"pytorch", "mlflow"},
    description="Attention fusion over the present modalities (encoders from the shared space), task "
    "heads for default, volatility, movement and sentiment with masked losses; a seed ensemble, "
    "early-stopped on validation, calibrated (Platt scaling) on validation, logged to MLflow as a pyfunc "
    "model (safetensors weights, signature, input example) and registered with the alias `challenger`.",
)
def multitask_model(
    context: dg.AssetExecutionContext,
    config: MultitaskConfig,
    modality_panel: pd.DataFrame,
    training_labels: pd.DataFrame,
    shared_space: dict,
    training_window: TrainingWindowResource,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dict:
    space = load_shared_space(shared_space)
    data = prepare(modality_panel, training_labels, space.dims, training_window.split_spec())
    fusion_config = config.fusion_config(space.d, data.arrays.policy)
    fitted = fit_ensemble(
        data,
        space.encoders.state_dict(),
        space.dims,
        fusion_config,
        config.seeds,
        on_epoch=lambda seed, r: context.log.info(f"seed {seed} epoch {r['epoch']}: {r}"),
    )
    extra = {**fitted.card_fields(), "seeds": config.seeds, "shared_space_version": shared_space["version"]}
    card = save_multitask(warehouse.models_path(), fitted.models, fusion_config, extra)
    tags = {
        "dagster_run_id": context.run.run_id,
        "model_version": card["version"],
        "train_window": "..".join(extra["split"]["train"]),
    }
    best = fitted.best_validation_scores()
    figures = {"Training loss and validation score per seed": training_curves(fitted.histories, config.seeds)}
    example = input_example(modality_panel)
    output = score_panel(fitted.models, card, example)
    card["mlflow"] = mlflow.log_training(
        config.model_dump(), fitted.histories, best, card, tags, example, output, figures
    )
    context.add_output_metadata(
        {
            "version": card["version"],
            "mlflow_run": dg.MetadataValue.url(card["mlflow"]["run_url"]),
            "registered_version": dg.MetadataValue.url(card["mlflow"]["model_url"]),
            "epochs_trained": dg.MetadataValue.json([len(h) for h in fitted.histories]),
            "training_curves": dg.MetadataValue.md(markdown_images(figures)),
            **{k: float(v) for k, v in best.items()},
        }
    )
    return card


class EvaluationConfig(dg.Config):
    baseline_seeds: list[int] = Field(
        default=[0, 1, 2], description="Seeds of the baselines (TF-IDF + LR, HistGradientBoosting)."
    )
    single_modality_seeds: list[int] = Field(
        default=[0, 1, 2], description="Seeds of the models trained on one modality alone; an empty list skips them."
    )
    gate_tolerance: float = Field(
        default=0.0,
        description="How far the model's AUC on the gate split may trail the best baseline's before the gate blocks scoring.",
    )


@dg.asset(
    group_name="model",
    backfill_policy=single_run,
    kinds={"scikitlearn", "mlflow"},
    description="Test-split metrics per task (ensemble and mean ± std over members) against TF-IDF + "
    "logistic regression, HistGradientBoosting and linear-SVM baselines on the same split, with modality "
    "ablations; the VaR 95/99 backtest (Kupiec, Christoffersen) against GARCH(1,1) and 20-day historical "
    "volatility; the gate's verdict moves the registry's `champion` alias. Markdown in the UI, JSON "
    "logged to the model's MLflow run.",
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    modality_panel: pd.DataFrame,
    training_labels: pd.DataFrame,
    multitask_model: dict,
    shared_space: dict,
    news: pd.DataFrame,
    social: pd.DataFrame,
    prices: pd.DataFrame,
    training_window: TrainingWindowResource,
    mlflow: MlflowResource,
) -> dict:
    models = load_multitask(multitask_model)
    data = prepare(modality_panel, training_labels, multitask_model["dims"], training_window.split_spec())
    texts = entity_date_texts(data.arrays.keys, news, social, DEFAULT_MAX_AGE["news"])
    space = load_shared_space(shared_space)
    report = evaluate(
        models,
        data,
        multitask_model["calibrator"],
        texts,
        config.baseline_seeds,
        space,
        config.single_modality_seeds,
        returns=daily_returns(prices),
    )
    report["model_version"] = multitask_model["version"]
    report["gate"] = gate_decision(report["gate_inputs"], config.gate_tolerance)
    report["registry"] = {
        "version": multitask_model["mlflow"]["model_version"],
        "champion": mlflow.record_gate(multitask_model["mlflow"]["model_version"], report["gate"]),
    }
    task = report["primary_task"]
    headline = {
        f"test_{task}_auc": report["model"]["ensemble"][task].get("auc", np.nan) if task else np.nan,
        **{f"test_{name}_auc": b["test"]["mean"] for name, b in report["baselines"].items()},
    }
    figures = evaluation_figures(models, data, multitask_model["calibrator"], space)
    mlflow.log_evaluation(multitask_model["mlflow"]["run_id"], report, headline, figures)
    context.add_output_metadata(
        {
            "evaluation": dg.MetadataValue.md(report["markdown"]),
            "plots": dg.MetadataValue.md(markdown_images(figures)),
            **{k: float(v) for k, v in headline.items()},
        }
    )
    return report


model_assets = [training_labels, multitask_model, model_evaluation]
