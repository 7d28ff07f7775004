"""Association rules between discretized signals and risk outcomes."""

import dagster as dg
import pandas as pd
from pydantic import Field

from mmrisk_dagster.catalog import table_preview
from mmrisk_dagster.ml.rules import mine_rules, one_hot_items, risk_signals
from mmrisk_dagster.partitions import single_run


class RulesConfig(dg.Config):
    min_support: float = Field(default=0.002, description="Smallest share of entity-dates a rule must cover.")
    min_confidence: float = Field(default=0.0, description="Smallest confidence a rule must reach.")
    max_length: int = Field(default=3, description="Most signals in a rule's antecedent.")


@dg.asset(
    group_name="mining",
    backfill_policy=single_run,
    kinds={"pandas", "parquet"},
    description="Rules {news tone, social burst, volatility regime, leverage bucket} -> {default, "
    "high forward volatility} with support, confidence and lift.",
)
def risk_association_rules(
    context: dg.AssetExecutionContext,
    config: RulesConfig,
    risk_scores: pd.DataFrame,
    social_embedding: pd.DataFrame,
    prices: pd.DataFrame,
    fundamentals: pd.DataFrame,
    training_labels: pd.DataFrame,
) -> pd.DataFrame:
    signals, outcomes = risk_signals(risk_scores, social_embedding, prices, fundamentals, training_labels)
    rules = mine_rules(one_hot_items(signals), outcomes, config.min_support, config.min_confidence, config.max_length)
    context.add_output_metadata({"strongest_rules": table_preview(rules, limit=10)})
    return rules
