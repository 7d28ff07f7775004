"""Checks on the model stages: vectors, panel coverage, shared space, the model gate, scores."""

from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from mmrisk_dagster.assets.embeddings import embedding_assets
from mmrisk_dagster.checks.invariants import (
    VectorSpec,
    coverage_by_date,
    coverage_drops,
    inspect_vectors,
)
from mmrisk_dagster.checks.severity import ERROR, WARN
from mmrisk_dagster.ml.features import (
    CHART_HEIGHT,
    CHART_WIDTH,
    PRICE_WINDOW,
    price_vector_size,
)
from mmrisk_dagster.ml.panel import MODALITIES
from mmrisk_dagster.ml.text import TEXT_DIM
from mmrisk_dagster.ml.text_summary import SUMMARIES
from mmrisk_dagster.partitions import daily_partitions, per_partition, rows_by_partition
from mmrisk_dagster.resources import WarehouseResource
from mmrisk_dagster.sources.calendar import business_day_offset, business_days

VECTOR_SPECS = {
    "fundamentals_embedding": VectorSpec("vector", None, 0.0, None, norm_per_sqrt_dim=0.5),
    "price_sequence_embedding": VectorSpec(
        "vector", price_vector_size(PRICE_WINDOW), 0.0, None, norm_per_sqrt_dim=25.0
    ),
    "chart_image_embedding": VectorSpec("image", CHART_HEIGHT * CHART_WIDTH // 8, 1e-6, 0.5),
    # A unit direction, tones and shares in [-1, 1], log1p counts and a burst: a million documents
    # in 60 days stays under 30.
    "news_embedding": VectorSpec("vector", TEXT_DIM + len(SUMMARIES["news"]), 1.0, 30.0),
    "social_embedding": VectorSpec("vector", TEXT_DIM + len(SUMMARIES["social"]), 1.0, 30.0),
}


def vector_result(report) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=report.structurally_valid and report.norms_in_range,
        severity=ERROR if not report.structurally_valid else WARN,
        metadata={
            "rows": report.rows,
            "dimension": report.dimensions[0] if len(report.dimensions) == 1 else 0,
            "dimensions_seen": dg.MetadataValue.json(report.dimensions),
            "expected_dimension": report.expected_dimension or 0,
            "non_finite_rows": report.non_finite_rows,
            "duplicate_keys": report.duplicate_keys,
            "norm_min": report.norm_min,
            "norm_median": report.norm_median,
            "norm_max": report.norm_max,
            "norm_bounds": dg.MetadataValue.json(list(report.norm_bounds)),
            "norm_out_of_range_rows": report.out_of_range_rows,
            "examples": dg.MetadataValue.json(report.examples),
        },
    )


def _embedding_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    spec = VECTOR_SPECS[asset.key.to_user_string()]

    @dg.asset_check(
        asset=asset,
        name="vectors_valid",
        blocking=True,
        partitions_def=daily_partitions,
        description="ERROR: vectors of another dimension, non-finite values or two rows for one "
        "entity-date. WARN: norms outside the range the embedding's construction allows.",
    )
    def vectors_valid(context: dg.AssetCheckExecutionContext, frame: pd.DataFrame) -> Iterator:
        yield from per_partition(
            context,
            {
                key: vector_result(inspect_vectors(rows, spec))
                for key, rows in rows_by_partition(frame, context.partition_keys).items()
            },
        )

    return vectors_valid


COVERAGE_WINDOW = 20  # business days of trailing coverage a date is compared with


@dg.asset_check(
    asset="modality_panel",
    partitions_def=daily_partitions,
    description=f"Warns when a modality's coverage on a date falls below a quarter of its average "
    f"over the previous {COVERAGE_WINDOW} business days, or when the panel is empty.",
)
def modality_coverage(
    context: dg.AssetCheckExecutionContext, modality_panel: pd.DataFrame, warehouse: WarehouseResource
) -> Iterator:
    days = pd.DatetimeIndex(pd.to_datetime(context.partition_keys))
    # The trailing window of the first days lies before this run: read it from the warehouse.
    before = business_days(business_day_offset(days[:1], -COVERAGE_WINDOW)[0], days[0] - pd.Timedelta(days=1))
    store = warehouse.store()
    existing = set(store.existing_partitions("modality_panel"))
    history_keys = [k for k in before.strftime("%Y-%m-%d") if k in existing]
    history = store.read("modality_panel", history_keys) if history_keys else modality_panel.iloc[:0]
    panel = pd.concat([history, modality_panel], ignore_index=True)
    coverage, rows = coverage_by_date(panel, MODALITIES)
    drops = coverage_drops(coverage, rows, days, window=COVERAGE_WINDOW)
    drop_keys = set(pd.to_datetime(drops["date"]).dt.strftime("%Y-%m-%d")) if len(drops) else set()
    coverage.index = pd.to_datetime(coverage.index).strftime("%Y-%m-%d")
    rows_per_key = {key: len(frame) for key, frame in rows_by_partition(modality_panel, context.partition_keys).items()}
    results = {}
    for key in context.partition_keys:
        day_drops = (
            drops[pd.to_datetime(drops["date"]).dt.strftime("%Y-%m-%d") == key] if key in drop_keys else drops.iloc[:0]
        )
        results[key] = dg.AssetCheckResult(
            passed=len(modality_panel) > 0 and key not in drop_keys,
            severity=WARN,
            metadata={
                "rows": rows_per_key[key],
                "coverage": dg.MetadataValue.json(
                    {m: float(coverage.at[key, m]) if key in coverage.index else 0.0 for m in MODALITIES}
                ),
                "drops": dg.MetadataValue.json(day_drops.astype(str).to_dict(orient="records")),
            },
        )
    yield from per_partition(context, results)


@dg.asset_check(asset="shared_space", description="Held-out cross-modal recall@10 is at least twice random.")
def alignment_above_random(shared_space: dict) -> dg.AssetCheckResult:
    retrieval = shared_space["retrieval"]
    ratio = retrieval["mean_recall"] / max(retrieval["mean_random"], 1e-12)
    pairs = retrieval.get("pairs", {})
    weakest = min(pairs, key=lambda p: pairs[p]["recall"] / max(pairs[p]["random"], 1e-12)) if pairs else ""
    return dg.AssetCheckResult(
        passed=bool(ratio >= 2.0),
        severity=WARN,
        metadata={
            "recall_at_10": retrieval["mean_recall"],
            "random": retrieval["mean_random"],
            "ratio": ratio,
            "weakest_pair": weakest,
        },
    )


@dg.asset_check(
    asset="model_evaluation",
    blocking=True,
    description="Blocks scoring with a model whose AUC on the primary task, on the gate split "
    "(which nothing was fitted, early-stopped or calibrated on), is below the best baseline's "
    "(minus the configured tolerance). Metadata: the margin with its bootstrap (entities and dates) "
    "standard error and 95% interval; passing moves the registry's `champion` alias to the model.",
)
def model_gate(model_evaluation: dict) -> dg.AssetCheckResult:
    gate = model_evaluation["gate"]
    return dg.AssetCheckResult(
        passed=bool(gate["passed"]),
        severity=ERROR,
        metadata={k: _gate_metadata_value(v) for k, v in gate.items()},
    )


def _gate_metadata_value(value):
    if isinstance(value, dict):
        return dg.MetadataValue.json({k: float(v) for k, v in value.items()})
    return float(value) if isinstance(value, float | np.floating) else str(value)


@dg.asset_check(
    asset="risk_scores",
    blocking=True,
    partitions_def=daily_partitions,
    description="Probabilities in [0, 1], positive finite volatility, one row per entity-date, "
    "non-negative attention weights summing to one.",
)
def scores_valid(context: dg.AssetCheckExecutionContext, risk_scores: pd.DataFrame) -> Iterator:
    yield from per_partition(
        context,
        {key: score_validity(rows) for key, rows in rows_by_partition(risk_scores, context.partition_keys).items()},
    )


def score_validity(risk_scores: pd.DataFrame) -> dg.AssetCheckResult:
    probability_columns = ["default_probability", "movement_probability"]
    probabilities = risk_scores[probability_columns]
    in_range = bool(((probabilities >= 0) & (probabilities <= 1)).all().all())  # NaN fails too
    volatility = risk_scores["predicted_volatility"].to_numpy(dtype=float)
    volatility_valid = bool((np.isfinite(volatility) & (volatility > 0)).all())
    attention = risk_scores.filter(like="attention_").to_numpy(dtype=float)
    attention_error = float(np.abs(attention.sum(axis=1) - 1).max()) if len(attention) else 0.0
    attention_valid = bool(np.isfinite(attention).all() and (attention >= 0).all()) and attention_error < 1e-4
    unique = not risk_scores.duplicated(["entity_id", "date"]).any()
    return dg.AssetCheckResult(
        passed=in_range and volatility_valid and attention_valid and unique,
        severity=ERROR,
        metadata={
            "rows": len(risk_scores),
            "probabilities_in_range": in_range,
            "volatility_positive_finite": volatility_valid,
            "keys_unique": unique,
            "max_attention_error": attention_error,
        },
    )


stage_checks = [
    *[_embedding_check(asset) for asset in embedding_assets],
    modality_coverage,
    alignment_above_random,
    model_gate,
    scores_valid,
]
