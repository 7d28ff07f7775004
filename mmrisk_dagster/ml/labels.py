"""Training labels per entity-date. Labels look forward by design; features never do.

* ``default``: a default event in the next `horizon` business days (NaN when the horizon runs past
  the data and no default happened yet: censored);
* ``log_forward_vol``: log of the standard deviation of daily log returns over the next `horizon`
  trading days (NaN without a full horizon);
* ``movement``: StockNet's definition (Xu & Cohen 2018): next-day return above 0.55% is up (1),
  below -0.5% is down (0), anything between is dropped (NaN);
* ``sentiment``: majority label of that day's labelled news (0 negative, 1 neutral, 2 positive);
* ``next_return``: the next trading day's log return, what the movement label and the one-day
  VaR are about (not a training target: the VaR multipliers are fitted on it, `ml.var`);
* ``label_end``: the last date a label depends on, used for the embargo between splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_offset
from mmrisk_dagster.sources.contract import SENTIMENT_LABELS

UP_THRESHOLD, DOWN_THRESHOLD = 0.0055, -0.005
LABEL_COLUMNS = ("default", "log_forward_vol", "movement", "sentiment", "next_return")


def movement_label(next_return: pd.Series) -> pd.Series:
    return pd.Series(
        np.where(next_return > UP_THRESHOLD, 1.0, np.where(next_return < DOWN_THRESHOLD, 0.0, np.nan)),
        index=next_return.index,
    ).where(next_return.notna())


def build_labels(prices: pd.DataFrame, events: pd.DataFrame, news: pd.DataFrame | None, horizon: int) -> pd.DataFrame:
    frame = prices[["entity_id", "date", "close"]].sort_values(["entity_id", "date"]).reset_index(drop=True)
    by_entity = frame.groupby("entity_id", sort=False)
    log_return = np.log(frame["close"] / by_entity["close"].shift(1))
    next_returns = log_return.groupby(frame["entity_id"], sort=False).shift(-1)
    frame["movement"] = movement_label(np.expm1(next_returns))
    frame["next_return"] = next_returns

    # Forward window t+1..t+h: rolling std ending at t+h, shifted back by h rows.
    rolling_std = log_return.groupby(frame["entity_id"], sort=False).transform(
        lambda s: s.rolling(horizon, min_periods=horizon).std()
    )
    forward_std = rolling_std.groupby(frame["entity_id"], sort=False).shift(-horizon)
    frame["log_forward_vol"] = np.log(forward_std.clip(lower=1e-6))

    frame["label_end"] = business_day_offset(frame["date"], horizon)
    defaults = (
        events.loc[events["event_type"] == "default", ["entity_id", "event_date"]]
        .groupby("entity_id")["event_date"]
        .min()
    )
    default_date = pd.to_datetime(frame["entity_id"].map(defaults))
    defaults_in_horizon = (default_date > frame["date"]) & (default_date <= frame["label_end"])
    data_end = frame["date"].max()
    censored = (frame["label_end"] > data_end) & ~defaults_in_horizon
    already_defaulted = default_date <= frame["date"]
    frame["default"] = defaults_in_horizon.astype(float).where(~censored & ~already_defaulted)

    labels = frame[["entity_id", "date", "default", "log_forward_vol", "movement", "next_return", "label_end"]]
    sentiment = news_sentiment(news) if news is not None else None
    if sentiment is None:
        return labels.assign(sentiment=np.nan)[["entity_id", "date", *LABEL_COLUMNS, "label_end"]]
    merged = labels.merge(sentiment, on=["entity_id", "date"], how="outer")
    # News-only rows (no prices) still need a label end for the embargo.
    merged["label_end"] = merged["label_end"].fillna(merged["date"])
    return merged.sort_values(["date", "entity_id"], ignore_index=True)[
        ["entity_id", "date", *LABEL_COLUMNS, "label_end"]
    ]


def news_sentiment(news: pd.DataFrame) -> pd.DataFrame | None:
    """Majority sentiment code per entity-date of the labelled news; None when nothing is labelled."""
    if "sentiment_label" not in news:
        return None
    labelled = news[news["sentiment_label"].isin(SENTIMENT_LABELS)]
    if labelled.empty:
        return None
    codes = labelled["sentiment_label"].map({k: i for i, k in enumerate(SENTIMENT_LABELS)})
    majority = codes.groupby([labelled["entity_id"], labelled["date"]]).agg(lambda s: s.value_counts().idxmax())
    return majority.rename("sentiment").astype(float).reset_index()
