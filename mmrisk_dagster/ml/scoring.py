"""Scores per entity-date from the model ensemble: calibrated probabilities and explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.prediction import apply_calibrator, ensemble_predict
from mmrisk_dagster.ml.var import VAR_LEVELS, value_at_risk
from mmrisk_dagster.sources.contract import SENTIMENT_LABELS


def score(models, arrays: PanelArrays, card: dict) -> pd.DataFrame:
    """entity_id, date, default_probability (calibrated) and raw, predicted volatility (of daily
    log returns over the label horizon) with the one-day VaR it implies at 95% and 99% (`var_95`,
    `var_99`: positive log-return losses, the card's multipliers fitted on validation, `ml.var`), movement probability, expected news
    sentiment where news is present, attention per modality and the modality with the largest
    attention weight, and the two parts of the default explanation:

    * ``default_logit_<m>``: the log-odds of default the modality's wide (linear) term adds (its
      summary against an average training entity-date, plus its presence and age; 0 where the
      modality is absent); additive, so it says exactly how much the modality moved the score;
    * ``top_default_driver``: the modality with the largest positive ``default_logit_<m>``, empty
      where none raises the risk. The attention weights explain the deep part of the score.
    """
    pred = ensemble_predict(models, arrays)
    modalities = models[0].modalities
    out = arrays.keys.copy()
    out["default_probability"] = apply_calibrator(card["calibrator"], pred["default"])
    out["default_score_raw"] = pred["default"]
    out["predicted_volatility"] = np.exp(pred["log_forward_vol"] * card["vol_std"] + card["vol_mean"])
    for level in VAR_LEVELS:
        out[f"var_{round(level * 100)}"] = value_at_risk(
            out["predicted_volatility"].to_numpy(), level, card["var_multipliers"]
        )
    out["movement_probability"] = pred["movement"]
    has_news = arrays.present[:, modalities.index("news")] if "news" in modalities else np.zeros(len(out), bool)
    expected_tone = pred["sentiment"] @ np.arange(len(SENTIMENT_LABELS), dtype=float) - 1.0  # in [-1, 1]
    out["news_sentiment"] = np.where(has_news, expected_tone, np.nan)
    for i, m in enumerate(modalities):
        out[f"attention_{m}"] = pred["attention"][:, i]
    out["top_modality"] = np.asarray(modalities, dtype=object)[pred["attention"].argmax(axis=1)] if len(out) else []
    linear = [m for m in modalities if m in models[0].wide]
    contributions = pred["wide"][:, [modalities.index(m) for m in linear]]
    for i, m in enumerate(linear):
        out[f"default_logit_{m}"] = contributions[:, i]
    out["top_default_driver"] = _largest_positive(contributions, linear)
    out["model_version"] = card["version"]
    return out


def _largest_positive(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row, the name of the column with the largest positive value; None where none is positive."""
    if values.shape[1] == 0:
        return np.full(len(values), None, dtype=object)
    largest = np.asarray(names, dtype=object)[values.argmax(axis=1)]
    largest[values.max(axis=1) <= 0] = None
    return largest


def alerts(scores: pd.DataFrame, probability_threshold: float, percentile: float) -> pd.DataFrame:
    """Rows whose calibrated default probability crosses the threshold or whose cross-sectional
    percentile that date is at least `percentile`."""
    frame = scores.copy()
    frame["percentile"] = frame.groupby("date")["default_probability"].rank(pct=True)
    by_probability = frame["default_probability"] >= probability_threshold
    by_rank = frame["percentile"] >= percentile
    flagged = frame[by_probability | by_rank].copy()
    flagged["reason"] = np.where(
        by_probability[flagged.index] & by_rank[flagged.index],
        "probability_and_percentile",
        np.where(by_probability[flagged.index], "probability", "percentile"),
    )
    columns = [
        "entity_id",
        "date",
        "default_probability",
        "percentile",
        "reason",
        "top_default_driver",
        "top_modality",
        "model_version",
    ]
    return flagged[columns].sort_values(["date", "default_probability"], ascending=[True, False], ignore_index=True)
