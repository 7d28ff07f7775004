"""Asset checks between the stages. ERROR checks are blocking: downstream assets do not run."""

import dagster as dg
import numpy as np
import pandas as pd

from mmrisk_dagster.assets.clean import CLEANED
from mmrisk_dagster.assets.embeddings import embedding_assets
from mmrisk_dagster.ml.panel import MODALITIES
from mmrisk_dagster.partitions import daily_partitions
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _cleaned_checks(name: str, table: str) -> list[dg.AssetChecksDefinition]:
    key = list(dict.fromkeys([*CONTRACTS[table].key, PARTITION_COLUMN]))

    @dg.asset_check(asset=name, name="keys_unique", blocking=True, partitions_def=daily_partitions,
                    description=f"No two rows share the key {key}.")
    def keys_unique(frame: pd.DataFrame) -> dg.AssetCheckResult:
        duplicated = frame.duplicated(key, keep=False)
        examples = frame.loc[duplicated, key].head(5).astype(str).to_dict(orient="records")
        return dg.AssetCheckResult(
            passed=not duplicated.any(), severity=ERROR,
            metadata={"duplicate_rows": int(duplicated.sum()), "examples": dg.MetadataValue.json(examples)},
        )

    @dg.asset_check(asset=name, name="rows_conserved", blocking=True, partitions_def=daily_partitions,
                    additional_ins={"raw": dg.AssetIn(f"raw_{table}"), "quarantine": dg.AssetIn("quarantine")},
                    description="Every raw row is either clean or quarantined: nothing is lost.")
    def rows_conserved(frame: pd.DataFrame, raw: pd.DataFrame, quarantine: pd.DataFrame) -> dg.AssetCheckResult:
        quarantined = int((quarantine["source"] == table).sum())
        return dg.AssetCheckResult(
            passed=len(raw) == len(frame) + quarantined, severity=ERROR,
            metadata={"rows_in": len(raw), "rows_clean": len(frame), "rows_quarantined": quarantined},
        )

    return [keys_unique, rows_conserved]


def _embedding_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="vectors_valid", blocking=True, partitions_def=daily_partitions,
                    description="Every vector is finite, all have one length, and rows are unique per entity-date.")
    def vectors_valid(frame: pd.DataFrame) -> dg.AssetCheckResult:
        column = "image" if "image" in frame else "vector"
        lengths = frame[column].map(len) if len(frame) else pd.Series(dtype=int)
        finite = column == "image" or all(np.isfinite(np.asarray(v)).all() for v in frame[column])
        unique = not frame.duplicated(["entity_id", "date"]).any()
        norms = [] if column == "image" else [float(np.linalg.norm(v)) for v in frame[column]]
        return dg.AssetCheckResult(
            passed=bool(finite and lengths.nunique() <= 1 and unique), severity=ERROR,
            metadata={
                "rows": len(frame),
                "dimension": int(lengths.iloc[0]) if len(lengths) else 0,
                "all_finite": bool(finite),
                "keys_unique": bool(unique),
                "norm_min": min(norms) if norms else 0.0,
                "norm_max": max(norms) if norms else 0.0,
            },
        )

    return vectors_valid


@dg.asset_check(asset="modality_panel", partitions_def=daily_partitions,
                description="Warns when a modality seen in the data is absent from every row of these partitions.")
def modality_coverage(modality_panel: pd.DataFrame) -> dg.AssetCheckResult:
    coverage = {m: float(modality_panel[f"{m}_present"].mean()) if len(modality_panel) else 0.0 for m in MODALITIES}
    return dg.AssetCheckResult(
        passed=len(modality_panel) > 0 and max(coverage.values()) > 0, severity=WARN,
        metadata={"rows": len(modality_panel), "coverage": dg.MetadataValue.json(coverage)},
    )


@dg.asset_check(asset="shared_space", description="Held-out cross-modal recall@10 is at least twice random.")
def alignment_above_random(shared_space: dict) -> dg.AssetCheckResult:
    retrieval = shared_space["retrieval"]
    ratio = retrieval["mean_recall"] / max(retrieval["mean_random"], 1e-12)
    return dg.AssetCheckResult(
        passed=bool(ratio >= 2.0), severity=WARN,
        metadata={"recall_at_10": retrieval["mean_recall"], "random": retrieval["mean_random"], "ratio": ratio},
    )


@dg.asset_check(asset="model_evaluation", blocking=True,
                description="Blocks scoring with a model whose validation AUC on the primary task is below "
                "the best baseline's (minus the configured tolerance).")
def model_gate(model_evaluation: dict) -> dg.AssetCheckResult:
    gate = model_evaluation["gate"]
    return dg.AssetCheckResult(
        passed=bool(gate["passed"]), severity=ERROR,
        metadata={k: (float(v) if isinstance(v, float | np.floating) else str(v)) for k, v in gate.items()},
    )


@dg.asset_check(asset="risk_scores", blocking=True, partitions_def=daily_partitions,
                description="Probabilities in [0, 1], one row per entity-date, attention weights sum to one.")
def scores_valid(risk_scores: pd.DataFrame) -> dg.AssetCheckResult:
    probability_columns = ["default_probability", "movement_probability"]
    in_range = bool(((risk_scores[probability_columns] >= 0) & (risk_scores[probability_columns] <= 1)).all().all())
    attention = risk_scores.filter(like="attention_").to_numpy()
    attention_error = float(np.abs(attention.sum(axis=1) - 1).max()) if len(attention) else 0.0
    unique = not risk_scores.duplicated(["entity_id", "date"]).any()
    return dg.AssetCheckResult(
        passed=in_range and unique and attention_error < 1e-4, severity=ERROR,
        metadata={"probabilities_in_range": in_range, "keys_unique": unique, "max_attention_error": attention_error},
    )


asset_checks = [
    *[check for name, table in CLEANED.items() for check in _cleaned_checks(name, table)],
    *[_embedding_check(asset) for asset in embedding_assets],
    modality_coverage,
    alignment_above_random,
    model_gate,
    scores_valid,
]
