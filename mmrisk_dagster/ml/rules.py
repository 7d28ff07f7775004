"""Association rules between discretized signals and risk outcomes.

Items are `signal=level` strings per entity-date. Rules have the form {signal items} -> outcome,
with antecedents of up to `max_length` items, found Apriori-style (an itemset is extended only if
it is frequent) and scored by support, confidence and lift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def terciles(values: pd.Series, by: pd.Series, names=("low", "mid", "high")) -> pd.Series:
    """Cross-sectional tercile per date (NaN stays NaN)."""
    ranks = values.groupby(by).rank(pct=True)
    return pd.cut(ranks, [0, 1 / 3, 2 / 3, 1], labels=names).astype(object)


def one_hot_items(signals: pd.DataFrame) -> pd.DataFrame:
    """Boolean item matrix from categorical signal columns (missing levels produce no item)."""
    items = {}
    for column in signals.columns:
        for level in signals[column].dropna().unique():
            items[f"{column}={level}"] = (signals[column] == level).to_numpy()
    return pd.DataFrame(items)


def mine_rules(
    items: pd.DataFrame,
    outcomes: pd.DataFrame,
    min_support: float = 0.005,
    min_confidence: float = 0.0,
    max_length: int = 3,
) -> pd.DataFrame:
    """Rules antecedent -> outcome with support, confidence and lift, sorted by lift."""
    x = items.to_numpy(bool)
    names = list(items.columns)
    signal_of = [n.split("=")[0] for n in names]
    n = len(items)
    rows = []
    frequent: list[tuple[int, ...]] = [(i,) for i in range(len(names)) if x[:, i].mean() >= min_support]
    level = frequent
    for length in range(1, max_length + 1):
        for itemset in level:
            mask = x[:, list(itemset)].all(axis=1)
            support_a = mask.mean()
            for outcome in outcomes.columns:
                y = outcomes[outcome].to_numpy(bool)
                # Counted, not recovered from a fraction: int(0.29 * 100) is 28.
                count = int(np.count_nonzero(mask & y))
                both = count / n
                if both < min_support or support_a == 0:
                    continue
                confidence = both / support_a
                if confidence < min_confidence:
                    continue
                rows.append(
                    {
                        "antecedent": " & ".join(names[i] for i in itemset),
                        "consequent": outcome,
                        "length": length,
                        "support": both,
                        "confidence": confidence,
                        "lift": confidence / max(y.mean(), 1e-12),
                        "count": count,
                    }
                )
        if length == max_length:
            break
        # Extend frequent itemsets with later items of other signals (one level per signal).
        candidates = {
            tuple(sorted(set(a) | {j}))
            for a in level
            for j in range(a[-1] + 1, len(names))
            if signal_of[j] not in {signal_of[i] for i in a}
        }
        level = sorted(c for c in candidates if x[:, list(c)].all(axis=1).mean() >= min_support)
    columns = ["antecedent", "consequent", "length", "support", "confidence", "lift", "count"]
    return pd.DataFrame(rows, columns=columns).sort_values(["lift", "support"], ascending=False, ignore_index=True)


def risk_signals(
    scores: pd.DataFrame, social: pd.DataFrame, prices: pd.DataFrame, fundamentals: pd.DataFrame, labels: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Discretized signals and boolean outcomes per scored entity-date.

    news_tone (model's expected sentiment), social_burst (posts vs the entity's trailing 20-day
    mean), vol_regime (trailing 20-day realized volatility tercile that date), leverage_bucket
    (latest usable filing's leverage tercile, when fundamentals have a `leverage` column).
    Outcomes: default within the horizon; forward volatility in the top tercile of its date.
    """
    frame = scores[["entity_id", "date", "news_sentiment"]].copy()
    tone = frame["news_sentiment"]
    frame["news_tone"] = np.where(
        tone.isna(), None, np.where(tone < -1 / 3, "negative", np.where(tone > 1 / 3, "positive", "neutral"))
    )  # type: ignore[call-overload]

    counts = social[["entity_id", "date", "n_items"]].sort_values(["entity_id", "date"])
    trailing = counts.groupby("entity_id")["n_items"].transform(lambda s: s.shift(1).rolling(20, min_periods=5).mean())
    counts["social_burst"] = np.where(
        counts["n_items"] >= np.maximum(3, 2 * trailing.fillna(np.inf)), "burst", "normal"
    )
    frame = frame.merge(counts[["entity_id", "date", "social_burst"]], on=["entity_id", "date"], how="left")
    frame["social_burst"] = frame["social_burst"].fillna("quiet")

    px = prices.sort_values(["entity_id", "date"])
    returns = np.log(px["close"] / px.groupby("entity_id")["close"].shift(1))
    px = px.assign(
        realized_vol=returns.groupby(px["entity_id"]).transform(lambda s: s.rolling(20, min_periods=10).std())
    )
    frame = frame.merge(px[["entity_id", "date", "realized_vol"]], on=["entity_id", "date"], how="left")
    frame["vol_regime"] = terciles(frame["realized_vol"], frame["date"], ("calm", "normal", "stressed"))

    signal_columns = ["news_tone", "social_burst", "vol_regime"]
    if "leverage" in fundamentals.columns and len(fundamentals):
        filings = fundamentals[["entity_id", "date", "leverage"]].rename(columns={"date": "filed"}).sort_values("filed")
        frame = pd.merge_asof(frame.sort_values("date"), filings, left_on="date", right_on="filed", by="entity_id")
        frame["leverage_bucket"] = terciles(frame["leverage"], frame["date"])
        signal_columns.append("leverage_bucket")

    frame = frame.merge(
        labels[["entity_id", "date", "default", "log_forward_vol"]], on=["entity_id", "date"], how="left"
    )
    high_vol = terciles(frame["log_forward_vol"], frame["date"]) == "high"
    outcomes = pd.DataFrame({"default": frame["default"] == 1, "high_forward_vol": high_vol})
    return frame[signal_columns].reset_index(drop=True), outcomes.reset_index(drop=True)
