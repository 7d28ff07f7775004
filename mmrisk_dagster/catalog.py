"""What the asset catalog says about every asset before its first run: owners, tags, columns.

Owners are the team that answers for an asset; tags say its domain, its modality and whether it
holds personal data (`pii`). Column descriptions of the canonical tables come from the data
contract (`sources/contract.py`), those of the derived tables from the code that builds them.
Applied to every asset in `definitions.py`; the IO manager keeps the descriptions when it records
the columns a run actually wrote.
"""

from __future__ import annotations

import math

import dagster as dg

from mmrisk_dagster.ml.panel import MODALITIES
from mmrisk_dagster.sources.contract import COLUMN_DESCRIPTIONS, PARTITION_COLUMN, SENTIMENT_LABELS, SOURCE_DATE_COLUMN
from mmrisk_dagster.sources.rejection import QUARANTINE_COLUMNS

OWNERS = {
    "sources": "team:risk-data-engineering",
    "cleaning": "team:risk-data-engineering",
    "embeddings": "team:quant-research",
    "fusion": "team:quant-research",
    "model": "team:quant-research",
    "scoring": "team:risk-analytics",
    "mining": "team:risk-analytics",
}
DOMAIN = {
    "sources": "ingestion",
    "cleaning": "data-quality",
    "embeddings": "features",
    "fusion": "features",
    "model": "modelling",
    "scoring": "risk",
    "mining": "risk",
}
# The modality an asset carries; every other asset combines several ("multimodal").
MODALITY = {
    "raw_fundamentals": "fundamentals",
    "fundamentals": "fundamentals",
    "fundamentals_embedding": "fundamentals",
    "raw_prices": "prices",
    "prices": "prices",
    "price_sequence_embedding": "prices",
    "chart_image_embedding": "chart",
    "raw_news": "news",
    "news": "news",
    "news_embedding": "news",
    "raw_social": "social",
    "social": "social",
    "social_embedding": "social",
    "raw_events": "credit-events",
    "risk_events": "credit-events",
}
MODALITY.update(
    {f"{name}_rejected": MODALITY[name] for name in ("fundamentals", "prices", "news", "social", "risk_events")}
)
# Assets holding data about people: posts with their authors (raw handles before cleaning,
# pseudonyms after) and the rejected rows, whose payloads are whole rows of posts too.
PII = {"raw_social", "social", "social_rejected", "quarantine"}

_KEY = {
    "entity_id": "Company or borrower identifier.",
    PARTITION_COLUMN: "Business day the row describes; the partition key.",
}


_QUARANTINE = dict(
    zip(
        QUARANTINE_COLUMNS,
        (
            "Table the row came from (fundamentals, prices, news, social, events).",
            "The row's natural key as written by the source.",
            "Reason code (see sources/rejection.py REASONS).",
            "What exactly was wrong, naming the column and value.",
            "The raw row as JSON, so nothing is lost.",
            "Business day of the raw row; the partition key.",
        ),
    )
)


def _canonical(table: str) -> dict[str, str]:
    return COLUMN_DESCRIPTIONS[table]


COLUMNS: dict[str, dict[str, str]] = {
    **{
        f"raw_{t}": {
            **_canonical(t),
            SOURCE_DATE_COLUMN: "The day as the source wrote it; a weekend row is partitioned on the next business day.",
        }
        for t in ("fundamentals", "prices", "news", "social", "events")
    },
    **{t: _canonical(t) for t in ("fundamentals", "prices", "news", "social")},
    "risk_events": _canonical("events"),
    "quarantine": _QUARANTINE,
    **{f"{name}_rejected": _QUARANTINE for name in ("fundamentals", "prices", "news", "social", "risk_events")},
    "fundamentals_embedding": {
        **_KEY,
        "vector": "Filing features rank-normalized across entities that day, in (-0.5, 0.5).",
        "age_days": "Business days since the filing became public.",
    },
    "price_sequence_embedding": {
        **_KEY,
        "vector": "The last 20 days of scaled returns, ranges, gaps and volume z-scores, flattened.",
    },
    "chart_image_embedding": {
        **_KEY,
        "image": "64x60 black-and-white OHLC bar chart with moving average and volume, bit-packed.",
    },
    "news_embedding": {
        **_KEY,
        "vector": "Mean all-MiniLM-L6-v2 direction of the day's articles, then their tone and log1p(count) "
        "that day and over the last 5, 20 and 60 business days.",
        "n_items": "Articles that day.",
    },
    "social_embedding": {
        **_KEY,
        "vector": "Mean all-MiniLM-L6-v2 direction of the day's posts, then their tone and log1p(count) "
        "that day and over the last 5, 20 and 60 business days, then over 20 days log1p(distinct authors), "
        "the top author's share and the share of repeated texts, and the day's burst against 60 days.",
        "n_items": "Posts that day.",
        "n_authors": "Distinct (pseudonymized) authors that day.",
    },
    "modality_panel": {
        **_KEY,
        **{
            c: d
            for m in MODALITIES
            for c, d in (
                (
                    f"{m}_image" if m == "chart" else f"{m}_vector",
                    f"The {m} embedding (newest within its maximum age).",
                ),
                (f"{m}_present", f"Whether a {m} observation is available for this entity-date."),
                (f"{m}_age", f"Business days since that {m} observation (empty when absent)."),
            )
        },
        "missing_policy": "How absent modalities are filled for the model: mask, zero, mean or cross_modal.",
    },
    "shared_embeddings": {
        **_KEY,
        **{
            c: d
            for m in MODALITIES
            for c, d in (
                (f"{m}_shared", f"The {m} observation projected into the shared space (zero where absent)."),
                (f"{m}_present", f"Whether a {m} observation is available."),
            )
        },
        "fused_shared": "Mean of the present modalities' shared vectors: the entity-date's point for similarity search.",
        "shared_space_version": "Version of the shared-space encoders that produced the vectors.",
    },
    "training_labels": {
        **_KEY,
        "default": "1 if the entity defaults within the horizon, 0 if not, empty when censored or already defaulted.",
        "log_forward_vol": "Log of the realized volatility of daily log returns over the next horizon days.",
        "movement": "Next-day move: 1 up, 0 down (StockNet thresholds), empty when too small to call.",
        "sentiment": f"Majority annotated news tone that day, as an index into {list(SENTIMENT_LABELS)}.",
        "next_return": "The next trading day's log return (what movement and the one-day VaR are about).",
        "label_end": "Last business day the labels look at; training rows end before the validation split starts.",
    },
    "risk_scores": {
        **_KEY,
        "default_probability": "Calibrated probability of default within the horizon (Platt scaling on validation).",
        "default_score_raw": "The ensemble's uncalibrated default probability.",
        "predicted_volatility": "Predicted realized volatility over the horizon.",
        "var_95": "One-day 95% Value-at-Risk: the log-return loss exceeded with 5% probability (predicted_volatility times the multiplier fitted on validation).",
        "var_99": "One-day 99% Value-at-Risk: the log-return loss exceeded with 1% probability (predicted_volatility times the multiplier fitted on validation).",
        "movement_probability": "Probability that the price moves up the next day.",
        "news_sentiment": "Expected news tone in [-1, 1]; empty without news.",
        **{f"attention_{m}": f"Attention weight the model gave {m} (weights sum to one)." for m in MODALITIES},
        "top_modality": "The most attended modality.",
        **{
            f"default_logit_{m}": f"Default log-odds the {m} linear term (its summary, presence and age) adds; 0 without {m}."
            for m in MODALITIES
            if m != "chart"
        },
        "top_default_driver": "Modality that raised the default log-odds most; empty when none raised it.",
        "model_version": "Version of the model that scored the row.",
    },
    "risk_alerts": {
        **_KEY,
        "default_probability": "Calibrated probability of default within the horizon.",
        "percentile": "Cross-sectional rank of that probability on the day (1 = riskiest).",
        "reason": "What raised the alert: probability, percentile or probability_and_percentile.",
        "top_default_driver": "Modality that raised the default log-odds most.",
        "top_modality": "The most attended modality.",
        "model_version": "Version of the model that scored the row.",
    },
    "risk_association_rules": {
        "antecedent": "Signals that hold together (news tone, social burst, volatility regime, leverage bucket).",
        "consequent": "Risk outcome they point to (default, high forward volatility).",
        "length": "Number of signals in the antecedent.",
        "support": "Share of entity-dates where antecedent and outcome both hold.",
        "confidence": "Share of the antecedent's entity-dates with the outcome.",
        "lift": "Confidence divided by the outcome's base rate (above 1: more likely than usual).",
        "count": "Entity-dates where antecedent and outcome both hold.",
    },
}


def column_schema(asset: str) -> dg.TableSchema | None:
    columns = COLUMNS.get(asset)
    if columns is None:
        return None
    return dg.TableSchema(columns=[dg.TableColumn(name=name, description=text) for name, text in columns.items()])


def written_schema(frame, declared: dg.TableSchema | None) -> dg.TableSchema:
    """The columns written, with their types, and the descriptions `declared` gives them."""
    descriptions = {c.name: c.description for c in declared.columns} if declared else {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(c), type=str(t), description=descriptions.get(str(c)))
            for c, t in frame.dtypes.items()
        ]
    )


def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its owners, tags and declared column schema."""
    name, group = spec.key.to_user_string(), spec.group_name or "default"
    schema = column_schema(name)
    return spec.merge_attributes(
        owners=[OWNERS[group]],
        tags={
            "domain": DOMAIN[group],
            "modality": MODALITY.get(name, "multimodal"),
            "pii": "true" if name in PII else "false",
        },
        metadata={"dagster/column_schema": schema} if schema else {},
    )


def table_preview(frame, limit: int = 10) -> dg.MetadataValue:
    """The first `limit` rows as a table the UI renders (numbers rounded, dates as text)."""
    head = frame.head(limit)

    def cell(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if isinstance(value, float):
            return round(value, 4)
        return value if isinstance(value, bool | int | str) else str(value)

    records = [dg.TableRecord({c: cell(v) for c, v in row.items()}) for row in head.to_dict(orient="records")]
    schema = dg.TableSchema(columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in head.dtypes.items()])
    return dg.MetadataValue.table(records=records, schema=schema)
