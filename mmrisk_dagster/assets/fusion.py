"""The aligned modality panel, the learned shared space and the projected shared embeddings."""

from typing import Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from mmrisk_dagster.ml.artifacts import load_shared_space, save_shared_space
from mmrisk_dagster.ml.inputs import infer_dims, panel_arrays
from mmrisk_dagster.ml.panel import DEFAULT_MAX_AGE, MODALITIES, PanelSpec, assemble_panel
from mmrisk_dagster.ml.shared_space import SharedSpaceConfig, fit_on_training_window, shared_embedding_frame
from mmrisk_dagster.ml.splits import chronological_split, split_index
from mmrisk_dagster.partitions import daily_partitions, lookback, partition_dates, single_run, with_partition_metadata
from mmrisk_dagster.resources import TrainingWindowResource, WarehouseResource

EMBEDDING_ASSETS = {
    "fundamentals": "fundamentals_embedding",
    "prices": "price_sequence_embedding",
    "chart": "chart_image_embedding",
    "news": "news_embedding",
    "social": "social_embedding",
}


class PanelConfig(dg.Config):
    missing_policy: Literal["mask", "zero", "mean", "cross_modal"] = Field(
        default="mask",
        description="How an absent modality reaches the model: mask (left out of the attention), zero, "
        "mean (of the training rows) or cross_modal (imputed from the present modalities).",
    )
    news_max_age: int = Field(
        default=DEFAULT_MAX_AGE["news"], description="Business days an article stays the entity's current news."
    )
    social_max_age: int = Field(
        default=DEFAULT_MAX_AGE["social"], description="Business days posts stay the entity's current social signal."
    )


@dg.asset(
    ins={asset: dg.AssetIn(partition_mapping=lookback(DEFAULT_MAX_AGE[m])) for m, asset in EMBEDDING_ASSETS.items()},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="fusion",
    kinds={"pandas", "parquet"},
    description="One row per entity-date observed in any modality: every modality's vector, an "
    "availability mask and the age of its newest observation; the missing-modality policy lives here.",
)
def modality_panel(context: dg.AssetExecutionContext, config: PanelConfig, **embeddings: pd.DataFrame) -> pd.DataFrame:
    spec = PanelSpec(
        max_age={**DEFAULT_MAX_AGE, "news": config.news_max_age, "social": config.social_max_age},
        policy=config.missing_policy,
    )
    by_modality = {m: embeddings[asset] for m, asset in EMBEDDING_ASSETS.items()}
    panel = assemble_panel(by_modality, partition_dates(context), spec)
    context.add_output_metadata({"missing_policy": config.missing_policy})
    return with_partition_metadata(
        context,
        panel,
        lambda key, rows: {
            "coverage": dg.MetadataValue.json(
                {m: float(rows[f"{m}_present"].mean()) if len(rows) else 0.0 for m in MODALITIES}
            )
        },
    )


class SharedSpaceRunConfig(dg.Config):
    """Run config mirror of `ml.shared_space.SharedSpaceConfig` (defaults come from there)."""

    d: int = Field(default=SharedSpaceConfig.d, description="Dimension of the shared space.")
    epochs: int = Field(default=SharedSpaceConfig.epochs, description="Passes over the training dates.")
    lr: float = Field(default=SharedSpaceConfig.lr, description="Adam learning rate.")
    batch_size: int = Field(default=SharedSpaceConfig.batch_size, description="Entity-dates per step.")
    temperature: float = Field(default=SharedSpaceConfig.temperature, description="InfoNCE softmax temperature.")
    modality_dropout: float = Field(
        default=SharedSpaceConfig.modality_dropout, description="Probability of hiding a present modality in a step."
    )
    seed: int = Field(default=SharedSpaceConfig.seed, description="Random seed of initialization and batching.")


@dg.asset(
    group_name="fusion",
    backfill_policy=single_run,
    kinds={"pytorch"},
    description="Modality encoders (GRU, CNN, MLPs) projecting every modality into one d-dimensional "
    "space, trained on the training dates only with cross-modal InfoNCE and modality dropout; "
    "reports held-out cross-modal recall@10 against random.",
)
def shared_space(
    context: dg.AssetExecutionContext,
    config: SharedSpaceRunConfig,
    modality_panel: pd.DataFrame,
    training_window: TrainingWindowResource,
    warehouse: WarehouseResource,
) -> dict:
    dims = infer_dims(modality_panel)
    arrays = panel_arrays(modality_panel, dims)
    split = chronological_split(arrays.keys["date"], training_window.split_spec())
    index = split_index(arrays.keys, split)
    space_config = SharedSpaceConfig(**config.model_dump())
    held_out = np.concatenate([index["validation"], index["gate"], index["test"]])
    model, history, retrieval = fit_on_training_window(arrays, dims, index["train"], held_out, space_config)
    card = save_shared_space(
        warehouse.models_path(),
        model,
        space_config.to_dict(),
        {
            "train_dates": [str(split["train"][0].date()), str(split["train"][-1].date())],
            "history": history,
            "retrieval": retrieval,
        },
    )
    context.add_output_metadata(
        {
            "version": card["version"],
            "recall_at_10": retrieval["mean_recall"],
            "random_recall_at_10": retrieval["mean_random"],
            "alignment_loss": dg.MetadataValue.json([round(h["loss"], 4) for h in history]),
            "train_dates": f"{split['train'][0].date()}..{split['train'][-1].date()}",
        }
    )
    return card


@dg.asset(
    ins={"modality_panel": dg.AssetIn(), "shared_space": dg.AssetIn()},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="fusion",
    kinds={"pytorch", "parquet"},
    description="Every entity-date's modalities projected into the shared space (zero where absent), "
    "plus their mean: the vectors behind cross-modal similarity search.",
)
def shared_embeddings(
    context: dg.AssetExecutionContext, modality_panel: pd.DataFrame, shared_space: dict
) -> pd.DataFrame:
    model = load_shared_space(shared_space)
    frame = shared_embedding_frame(model, panel_arrays(modality_panel, model.dims))
    return with_partition_metadata(context, frame.assign(shared_space_version=shared_space["version"]))


fusion_assets = [modality_panel, shared_space, shared_embeddings]
