"""Thin Dagster wiring of the pure core, one module per stage."""

from mmrisk_dagster.assets.clean import cleaned_assets, quarantine
from mmrisk_dagster.assets.embeddings import embedding_assets
from mmrisk_dagster.assets.fusion import fusion_assets
from mmrisk_dagster.assets.mining import risk_association_rules
from mmrisk_dagster.assets.model import model_assets
from mmrisk_dagster.assets.raw import raw_assets
from mmrisk_dagster.assets.scoring import scoring_assets

all_assets = [
    *raw_assets,
    *cleaned_assets,
    quarantine,
    *embedding_assets,
    *fusion_assets,
    *model_assets,
    *scoring_assets,
    risk_association_rules,
]
