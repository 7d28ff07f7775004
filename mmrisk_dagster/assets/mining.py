"""Association rules between discretized signals and risk outcomes."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.ml.rules import mine_rules, one_hot_items, risk_signals


class RulesConfig(dg.Config):
    min_support: float = 0.002
    min_confidence: float = 0.0
    max_length: int = 3


@dg.asset(
    group_name="mining",
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
    context.add_output_metadata({"top_rules": dg.MetadataValue.md(rules.head(10).to_markdown(index=False) if len(rules) else "none")})
    return rules
