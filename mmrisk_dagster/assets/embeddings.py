"""Modality embeddings: stateless per partition, each value for date t built from data <= t."""

from typing import Any

import dagster as dg
import pandas as pd

from mmrisk_dagster.ml.features import (
    FUNDAMENTALS_MAX_AGE,
    PRICE_LOOKBACK,
    PRICE_WINDOW,
    chart_images,
    fundamentals_asof,
    price_windows,
)
from mmrisk_dagster.ml.text import encode_texts, tone_axis
from mmrisk_dagster.ml.text_summary import AUTHOR_WINDOW, TEXT_HORIZONS, TEXT_LOOKBACK, aggregate_text
from mmrisk_dagster.partitions import (
    daily_partitions,
    lookback,
    partition_dates,
    rows_by_partition,
    single_run,
    with_partition_metadata,
)
from mmrisk_dagster.resources import ComputeResource
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns

_common: dict[str, Any] = dict(
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="embeddings",
)


@dg.asset(
    ins={"fundamentals": dg.AssetIn(partition_mapping=lookback(FUNDAMENTALS_MAX_AGE))},
    kinds={"pandas", "parquet"},
    description="Latest filing usable at each date (as-of join on `available_at`), "
    "cross-sectionally rank-normalized per date, with its age in business days.",
    **_common,
)
def fundamentals_embedding(context: dg.AssetExecutionContext, fundamentals: pd.DataFrame) -> pd.DataFrame:
    return with_partition_metadata(
        context,
        fundamentals_asof(fundamentals, partition_dates(context), fundamental_feature_columns(fundamentals)),
    )


@dg.asset(
    ins={"prices": dg.AssetIn(partition_mapping=lookback(PRICE_LOOKBACK))},
    kinds={"pandas", "parquet"},
    description=f"The last {PRICE_WINDOW} trading days of scaled returns, ranges, gaps and "
    "volume z-scores per entity-date for the sequence encoder, then 5/20/60-day returns, realized "
    "volatility, volume and drawdown, and the entity against the market that day.",
    **_common,
)
def price_sequence_embedding(context: dg.AssetExecutionContext, prices: pd.DataFrame) -> pd.DataFrame:
    return with_partition_metadata(context, price_windows(prices, partition_dates(context)))


@dg.asset(
    ins={"prices": dg.AssetIn(partition_mapping=lookback(2 * PRICE_WINDOW))},
    kinds={"numpy", "parquet"},
    description=f"{PRICE_WINDOW}-day OHLC bar charts with moving average and volume pane "
    "(Jiang, Kelly & Xiu 2023 style), 64x60 black-and-white, bit-packed.",
    **_common,
)
def chart_image_embedding(context: dg.AssetExecutionContext, prices: pd.DataFrame) -> pd.DataFrame:
    return with_partition_metadata(context, chart_images(prices, partition_dates(context)))


def _text_embedding(name: str, table: str, text_of, author_column: str | None, description: str):
    @dg.asset(
        name=name,
        ins={table: dg.AssetIn(partition_mapping=lookback(TEXT_LOOKBACK))},
        kinds={"pytorch", "parquet"},
        description=description,
        **_common,
    )
    def _embed(context: dg.AssetExecutionContext, compute: ComputeResource, **tables: pd.DataFrame) -> pd.DataFrame:
        docs = tables[table]
        encoder, cache = compute.encoder(), compute.text_cache()
        vectors, encoded = encode_texts(text_of(docs), encoder, cache, log=context.log.info)
        context.add_output_metadata({"newly_encoded_in_run": encoded, "encoder": encoder.name})
        documents = rows_by_partition(docs, context.partition_keys)
        aggregated = aggregate_text(docs, vectors, tone_axis(encoder, cache), partition_dates(context), author_column)
        return with_partition_metadata(context, aggregated, lambda key, rows: {"documents": len(documents[key])})

    return _embed


news_embedding = _text_embedding(
    "news_embedding",
    "news",
    lambda docs: (docs["headline"] + ". " + docs["body"].fillna("")).str.strip(" .").tolist(),
    None,
    "Mean all-MiniLM-L6-v2 vector of each entity-date's news (cached by text hash), then its tone and "
    f"log count over the day and the trailing {', '.join(map(str, TEXT_HORIZONS))} business days.",
)
social_embedding = _text_embedding(
    "social_embedding",
    "social",
    lambda docs: docs["text"].tolist(),
    "author_id",
    "Mean all-MiniLM-L6-v2 vector of each entity-date's posts (cached by text hash), then their tone and "
    f"log count over the day and the trailing {', '.join(map(str, TEXT_HORIZONS))} business days, and their "
    f"authors' behaviour over {AUTHOR_WINDOW} days (distinct authors, the top author's share, repeated texts) "
    "and the day's burst.",
)

embedding_assets = [
    fundamentals_embedding,
    price_sequence_embedding,
    chart_image_embedding,
    news_embedding,
    social_embedding,
]
