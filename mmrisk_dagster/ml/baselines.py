"""The simple alternatives the model must beat, fitted and scored on the same split.

* TF-IDF + logistic regression on the text of each entity-date (its news of the last days and
  its posts of the day);
* HistGradientBoosting on every tabular feature of the panel: ranked fundamentals, the raw price
  window and its multi-horizon summary, text activity counts over the day and trailing horizons,
  the posts' author behaviour, and modality ages;
* a linear support-vector machine on the same standardized tabular features.

Every fitted baseline is scored with `risk_score` (higher = riskier), which is all an AUC needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from mmrisk_dagster.ml.features import split_price_vectors
from mmrisk_dagster.ml.inputs import PanelArrays
from mmrisk_dagster.ml.text_summary import SUMMARIES, activity_columns
from mmrisk_dagster.sources.calendar import business_day_ordinal


def entity_date_texts(keys: pd.DataFrame, news: pd.DataFrame, social: pd.DataFrame, news_max_age: int) -> list[str]:
    """Per key: headlines/bodies of news from the last `news_max_age` business days and that day's posts."""
    docs = []
    if len(news):
        text = (news["headline"] + ". " + news["body"].fillna("")).str.strip(" .")
        news_docs = pd.DataFrame(
            {"entity_id": news["entity_id"], "t": business_day_ordinal(news["date"]), "text": text}
        )
        docs.append(pd.concat([news_docs.assign(t=news_docs["t"] + lag) for lag in range(news_max_age + 1)]))
    if len(social):
        docs.append(
            pd.DataFrame(
                {"entity_id": social["entity_id"], "t": business_day_ordinal(social["date"]), "text": social["text"]}
            )
        )
    if not docs:
        return [""] * len(keys)
    joined = pd.concat(docs).groupby(["entity_id", "t"])["text"].agg(" ".join)
    lookup = pd.MultiIndex.from_arrays([keys["entity_id"], business_day_ordinal(keys["date"])])
    return joined.reindex(lookup).fillna("").tolist()


def tabular_features(arrays: PanelArrays) -> np.ndarray:
    columns = []
    if "fundamentals" in arrays.inputs:
        columns.append(arrays.inputs["fundamentals"])
    if "prices" in arrays.inputs:
        window, _ = split_price_vectors(arrays.inputs["prices"])
        # The window and its multi-horizon summary, which holds the window's volatility, return
        # and volume already; its range it has over 60 days only.
        columns += [arrays.inputs["prices"], window[:, :, 1].mean(axis=1, keepdims=True)]
    for text, names in SUMMARIES.items():
        if text in arrays.inputs:
            # Counts and author behaviour from the text summary; its tone is the text encoder's
            # reading of the content, which the tabular baselines do not see (TF-IDF reads the text).
            summary = arrays.inputs[text][:, -len(names) :]
            columns.append(summary[:, activity_columns(text)])
    # Absent modalities hold zeros; the presence flags let the trees tell them apart.
    columns += [arrays.present.astype(np.float32), arrays.age]
    return np.hstack(columns).astype(np.float32)


def fit_hist_gbm(x: np.ndarray, y: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=seed,
    ).fit(x, y)


def fit_tfidf_logreg(texts: list[str], y: np.ndarray, seed: int):
    return make_pipeline(
        TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True, max_features=50_000),
        LogisticRegression(max_iter=2000, C=1.0, random_state=seed),
    ).fit(texts, y)


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, seed: int):
    """Standardized features + L2 logistic regression: the classic credit-scoring baseline."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed)).fit(x, y)


def fit_linear_svm(x: np.ndarray, y: np.ndarray, seed: int):
    """Standardized features + a linear SVM; balanced classes, since defaults are rare."""
    return make_pipeline(
        StandardScaler(), LinearSVC(C=0.05, class_weight="balanced", max_iter=5000, random_state=seed)
    ).fit(x, y)


def risk_score(model, x) -> np.ndarray:
    """A ranking score from any fitted baseline: the positive-class probability where the model
    has one, else the SVM's signed distance to its hyperplane."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(x)[:, 1]
    return model.decision_function(x)
