"""The published tasks on the real datasets, run on the pipeline's cleaned tables.

* StockNet movement (Xu & Cohen 2018): the target day's movement percent from the adjusted close,
  up above 0.55%, down below -0.5%, samples between dropped (`labels.movement_label`); inputs from
  the 5 trading days before the target day; splits by target day: train to 2015-08-01, dev to
  2015-10-01, test to 2016-01-01 (reported only when the data covers it). The last two months of
  train select the epoch; dev is never used for fitting or selection.
* Financial PhraseBank: 3-class sentence sentiment on a fixed seeded, stratified 80/20 split.
* UCI credit default: default next month on a fixed seeded, stratified 80/20 split.

Each `*_task` function trains one model per seed with the project's model code (the fusion
model of `ml.fusion` through `ml.training`, the fine-tuned encoder of `ml.sentiment`) and the
baselines of `ml.baselines` on the same split, and returns per-seed metrics plus the
seed-ensemble's. Nothing here reads files: the benchmark and tests feed cleaned tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from mmrisk_dagster.ml.baselines import fit_hist_gbm, fit_logistic_regression, fit_tfidf_logreg, tabular_features
from mmrisk_dagster.ml.features import aggregate_text, fundamentals_asof, price_windows
from mmrisk_dagster.ml.fusion import TASKS, FusionConfig
from mmrisk_dagster.ml.inputs import PanelArrays, infer_dims, panel_arrays, restrict
from mmrisk_dagster.ml.labels import movement_label
from mmrisk_dagster.ml.metrics import binary_metrics, mean_std, multiclass_metrics
from mmrisk_dagster.ml.panel import PanelSpec, assemble_panel
from mmrisk_dagster.ml.prediction import ensemble_predict
from mmrisk_dagster.ml.sentiment import (
    SentimentConfig,
    fine_tune_sentiment,
    frozen_bottom_states,
    predict_sentiment,
    pretrained_sentence_vectors,
)
from mmrisk_dagster.ml.training import LabelArrays, train_multitask
from mmrisk_dagster.sources.calendar import business_day_ordinal
from mmrisk_dagster.sources.cleaning import fundamental_feature_columns
from mmrisk_dagster.sources.contract import SENTIMENT_LABELS

Progress = Callable[[str], None]
SPLIT_SEED = 0  # the fixed split of PhraseBank and UCI credit; model seeds vary, the split not

STOCKNET_PERIODS = {
    "train": ("2014-01-01", "2015-08-01"),
    "dev": ("2015-08-01", "2015-10-01"),
    "test": ("2015-10-01", "2016-01-01"),
}
STOCKNET_SELECTION_START = "2015-06-01"  # train targets from here on select the epoch
STOCKNET_LAG = 5


def _quiet(_: str) -> None:
    return None


def single_task_labels(n: int, task: str, values: np.ndarray) -> LabelArrays:
    """Labels for one task; the other heads see only NaN and contribute no loss."""
    labels = {t: np.full(n, np.nan) for t in TASKS}
    labels[task] = np.asarray(values, dtype=float)
    return LabelArrays(labels, vol_mean=0.0, vol_std=1.0)


def dense_arrays(keys: pd.DataFrame, inputs: dict[str, np.ndarray]) -> PanelArrays:
    """Arrays for a panel whose every modality is observed on every row (a cross-section)."""
    n, m = len(keys), len(inputs)
    return PanelArrays(
        keys.reset_index(drop=True),
        {k: v.astype(np.float32) for k, v in inputs.items()},
        np.ones((n, m), bool),
        np.ones((n, m), bool),
        np.zeros((n, m), np.float32),
        "mask",
    )


def _summary(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)] if runs else []
    return {k: mean_std([r[k] for r in runs]) for k in keys}


# --- StockNet movement -------------------------------------------------------------------------


def stocknet_samples(prices: pd.DataFrame) -> pd.DataFrame:
    """One row per entity and last input day `date`: the next trading day `target_date`, its
    movement percent from the adjusted close and the label (NaN for the dropped middle band)."""
    frame = prices[["entity_id", "date", "close"]].sort_values(["entity_id", "date"]).reset_index(drop=True)
    by_entity = frame.groupby("entity_id", sort=False)
    frame["target_date"] = by_entity["date"].shift(-1)
    frame["movement_pct"] = by_entity["close"].shift(-1) / frame["close"] - 1
    frame["movement"] = movement_label(frame["movement_pct"])
    return frame.dropna(subset=["target_date"]).drop(columns="close").reset_index(drop=True)


def lagged_text(daily: pd.DataFrame, lag: int) -> pd.DataFrame:
    """Per entity and business day t, the texts of days t-lag+1..t from `aggregate_text`'s daily
    rows: the count-weighted mean direction plus log1p of the total count."""
    if len(daily) == 0:
        return daily
    vectors = np.stack(daily["vector"].to_numpy())[:, :-1].astype(np.float64)
    counts = daily["n_items"].to_numpy(dtype=float)
    ordinal = business_day_ordinal(daily["date"])
    shifted = pd.DataFrame(
        {
            "entity_id": np.tile(daily["entity_id"].to_numpy(), lag),
            "t": np.concatenate([ordinal + k for k in range(lag)]),
        }
    )
    group_ids, uniques = pd.MultiIndex.from_frame(shifted).factorize()
    sums = np.zeros((len(uniques), vectors.shape[1]))
    np.add.at(sums, group_ids, np.tile(vectors * counts[:, None], (lag, 1)))
    totals = np.bincount(group_ids, weights=np.tile(counts, lag), minlength=len(uniques))
    means = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)
    days = np.busday_offset(np.datetime64("1970-01-01", "D"), uniques.get_level_values(1).to_numpy(), roll="forward")
    return pd.DataFrame(
        {
            "entity_id": uniques.get_level_values(0),
            "date": pd.DatetimeIndex(days.astype("datetime64[ns]")),
            "vector": list(np.hstack([means, np.log1p(totals)[:, None]]).astype(np.float32)),
        }
    )


@dataclass
class StockNetData:
    arrays: PanelArrays
    labels: LabelArrays
    index: dict[str, np.ndarray]  # train, selection, dev (, test): rows with a movement label
    dims: dict[str, int]


def prepare_stocknet(
    prices: pd.DataFrame, social: pd.DataFrame, social_vectors: np.ndarray, lag: int = STOCKNET_LAG
) -> StockNetData:
    """Panel of 5-day price windows and 5-day tweet aggregates, labels and the paper's splits."""
    samples = stocknet_samples(prices)
    start, end = pd.Timestamp(STOCKNET_PERIODS["train"][0]), pd.Timestamp(STOCKNET_PERIODS["test"][1])
    samples = samples[(samples["target_date"] >= start) & (samples["target_date"] < end)]
    dates = pd.DatetimeIndex(sorted(samples["date"].unique()))
    embeddings = {
        "prices": price_windows(prices, dates, window=lag),
        "social": lagged_text(aggregate_text(social, social_vectors), lag),
    }
    panel = assemble_panel(embeddings, dates, PanelSpec({"prices": 0, "social": 0}))
    panel = panel.merge(samples, on=["entity_id", "date"], how="inner")
    # A sample needs its price window: the model predicts from the prices and tweets together.
    panel = panel[panel["prices_present"]].reset_index(drop=True)
    dims = infer_dims(panel)
    arrays = panel_arrays(panel, dims)
    labels = single_task_labels(len(panel), "movement", panel["movement"].to_numpy())
    target = panel["target_date"]
    labelled = panel["movement"].notna()
    train_end = pd.Timestamp(STOCKNET_PERIODS["train"][1])
    selection = pd.Timestamp(STOCKNET_SELECTION_START)
    index = {
        "train": np.flatnonzero(labelled & (target < selection)),
        "selection": np.flatnonzero(labelled & (target >= selection) & (target < train_end)),
    }
    for split in ("dev", "test"):
        low, high = (pd.Timestamp(d) for d in STOCKNET_PERIODS[split])
        rows = np.flatnonzero(labelled & (target >= low) & (target < high))
        if len(rows):
            index[split] = rows
    return StockNetData(arrays, labels, index, dims)


def _movement_scores(y: np.ndarray, p: np.ndarray) -> dict:
    metrics = binary_metrics(y, p, threshold=0.5)
    return {"accuracy": metrics.get("accuracy", float("nan")), "mcc": metrics.get("mcc", float("nan")), "n": len(y)}


STOCKNET_FUSION = FusionConfig(
    d=32,
    hidden=64,
    dropout=0.3,
    modality_dropout=0.2,
    epochs=10,
    lr=1e-3,
    weight_decay=1e-3,
    batch_size=256,
    patience=3,
    task_weights={"movement": 1.0},
    frozen_modalities=(),
    early_stopping="loss",
)


def stocknet_task(
    data: StockNetData, seeds: list[int], config: FusionConfig = STOCKNET_FUSION, progress: Progress = _quiet
) -> dict:
    """Fused prices + tweets model per seed, a prices-only model, and HistGradientBoosting."""
    fit_index = {"train": data.index["train"], "validation": data.index["selection"]}
    evaluated = [s for s in ("dev", "test") if s in data.index]
    y = data.labels.values["movement"]
    out: dict = {
        "samples": {k: int(len(v)) for k, v in data.index.items()},
        "up_share": {k: float(y[v].mean()) for k, v in data.index.items()},
    }
    variants = {"fused": list(data.dims)}
    if "social" in data.dims:
        variants["prices_only"] = ["prices"]
    for name, modalities in variants.items():
        dims = {m: data.dims[m] for m in modalities}
        arrays = restrict(data.arrays, modalities, data.dims)
        models = []
        runs: dict[str, list[dict]] = {s: [] for s in evaluated}
        for seed in seeds:
            model, history = train_multitask(arrays, data.labels, fit_index, dims, config, seed)
            models.append(model)
            for split in evaluated:
                rows = data.index[split]
                p = ensemble_predict([model], arrays.subset(rows))["movement"]
                runs[split].append(_movement_scores(y[rows], p))
            progress(
                f"stocknet {name} seed {seed}: {len(history)} epochs, "
                + ", ".join(f"{s} acc {runs[s][-1]['accuracy']:.4f} mcc {runs[s][-1]['mcc']:.4f}" for s in evaluated)
            )
        for split in evaluated:
            rows = data.index[split]
            ensemble = ensemble_predict(models, arrays.subset(rows))["movement"]
            out.setdefault(name, {})[split] = {**_summary(runs[split]), "ensemble": _movement_scores(y[rows], ensemble)}
    features = tabular_features(data.arrays)
    train = np.concatenate([data.index["train"], data.index["selection"]])
    gbm_runs: dict[str, list[dict]] = {s: [] for s in evaluated}
    for seed in seeds:
        gbm = fit_hist_gbm(features[train], y[train], seed)
        for split in evaluated:
            rows = data.index[split]
            gbm_runs[split].append(_movement_scores(y[rows], gbm.predict_proba(features[rows])[:, 1]))
    out["hist_gbm"] = {s: _summary(gbm_runs[s]) for s in evaluated}
    out["majority_up"] = {s: _movement_scores(y[data.index[s]], np.ones(len(data.index[s]))) for s in evaluated}
    for split in evaluated:
        out[split] = out["fused"][split]
    return out


# --- Financial PhraseBank sentiment -------------------------------------------------------------


def sentiment_codes(news: pd.DataFrame) -> np.ndarray:
    return news["sentiment_label"].map({label: i for i, label in enumerate(SENTIMENT_LABELS)}).to_numpy()


def sentence_texts(news: pd.DataFrame) -> list[str]:
    return (news["headline"] + ". " + news["body"].fillna("")).str.strip(" .").tolist()


def sentiment_task(
    news: pd.DataFrame,
    seeds: list[int],
    config: SentimentConfig = SentimentConfig(),  # noqa: B008 (frozen)
    test_news: pd.DataFrame | None = None,
    progress: Progress = _quiet,
) -> dict:
    """Fine-tuned MiniLM top layers per seed; frozen-MiniLM and TF-IDF logistic regressions."""
    news = news[news["sentiment_label"].isin(SENTIMENT_LABELS)].reset_index(drop=True)
    if test_news is None:
        train_rows, test_rows = train_test_split(
            np.arange(len(news)), test_size=0.2, random_state=SPLIT_SEED, stratify=sentiment_codes(news)
        )
        evaluation = news.iloc[test_rows].reset_index(drop=True)
        news = news.iloc[train_rows].reset_index(drop=True)
    else:
        evaluation = test_news[test_news["sentiment_label"].isin(SENTIMENT_LABELS)].reset_index(drop=True)
    y, y_test = sentiment_codes(news), sentiment_codes(evaluation)
    fit_rows, selection_rows = train_test_split(
        np.arange(len(news)), test_size=0.1, random_state=SPLIT_SEED, stratify=y
    )
    texts, test_texts = sentence_texts(news), sentence_texts(evaluation)
    states = frozen_bottom_states(texts + test_texts, config)
    train_states, test_states = states[: len(texts)], states[len(texts) :]
    progress(
        f"phrasebank: {len(texts)} training and {len(test_texts)} evaluation sentences encoded to layer "
        f"{6 - config.trainable_layers}"
    )
    runs, probabilities = [], []
    for seed in seeds:
        model = fine_tune_sentiment(
            [train_states[i] for i in fit_rows],
            y[fit_rows],
            [train_states[i] for i in selection_rows],
            y[selection_rows],
            config,
            seed,
            on_epoch=lambda epoch, accuracy, seed=seed: progress(
                f"phrasebank seed {seed} epoch {epoch}: selection accuracy {accuracy:.4f}"
            ),
        )
        proba = predict_sentiment(model, test_states)
        probabilities.append(proba)
        runs.append(multiclass_metrics(y_test, proba))
        progress(f"phrasebank seed {seed}: accuracy {runs[-1]['accuracy']:.4f} macro F1 {runs[-1]['macro_f1']:.4f}")
    out = {
        **_summary(runs),
        "ensemble": multiclass_metrics(y_test, np.mean(probabilities, axis=0)),
        "n_train": len(texts),
        "n_test": len(test_texts),
    }
    vectors = pretrained_sentence_vectors(states, config)
    frozen = LogisticRegression(max_iter=2000, C=10.0).fit(vectors[: len(texts)], y)
    out["frozen_minilm_logreg"] = multiclass_metrics(y_test, frozen.predict_proba(vectors[len(texts) :]))
    tfidf = fit_tfidf_logreg(texts, y, SPLIT_SEED)
    out["tfidf_logreg"] = multiclass_metrics(y_test, tfidf.predict_proba(test_texts))
    return out


# --- UCI credit default -------------------------------------------------------------------------

UCI_FUSION = FusionConfig(
    d=32,
    hidden=64,
    dropout=0.2,
    modality_dropout=0.0,
    epochs=30,
    lr=2e-3,
    weight_decay=1e-4,
    batch_size=512,
    patience=5,
    task_weights={"default": 1.0},
    frozen_modalities=(),
    early_stopping="auc",
)


@dataclass
class CreditData:
    keys: pd.DataFrame
    ranked: np.ndarray  # the pipeline's cross-sectional ranks (`features.fundamentals_asof`)
    raw: np.ndarray  # the cleaned values, for the baselines as usually published
    y: np.ndarray
    index: dict[str, np.ndarray] = field(default_factory=dict)


def prepare_credit(fundamentals: pd.DataFrame, events: pd.DataFrame) -> CreditData:
    """One row per client: features as of the record date, default label, the fixed split."""
    columns = fundamental_feature_columns(fundamentals)
    record_date = fundamentals["date"].max()
    ranked = fundamentals_asof(fundamentals, [record_date], columns).sort_values("entity_id", ignore_index=True)
    raw = fundamentals.set_index("entity_id").loc[ranked["entity_id"], columns].to_numpy(np.float64)
    defaulted = set(events.loc[events["event_type"] == "default", "entity_id"])
    y = ranked["entity_id"].isin(defaulted).to_numpy(float)
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    fit, selection = train_test_split(train, test_size=0.2, random_state=SPLIT_SEED, stratify=y[train])
    index = {"train": train, "fit": fit, "selection": selection, "test": test}
    return CreditData(ranked[["entity_id", "date"]], np.stack(ranked["vector"].to_numpy()), raw, y, index)


def credit_task(
    data: CreditData, seeds: list[int], config: FusionConfig = UCI_FUSION, progress: Progress = _quiet
) -> dict:
    """Fusion model on the ranked record per seed; logistic regression and HistGradientBoosting
    on the same split, same process."""
    arrays = dense_arrays(data.keys, {"fundamentals": data.ranked})
    labels = single_task_labels(len(data.y), "default", data.y)
    dims = {"fundamentals": data.ranked.shape[1]}
    fit_index = {"train": data.index["fit"], "validation": data.index["selection"]}
    test, train = data.index["test"], data.index["train"]
    y_test = data.y[test]
    runs, models, logreg, gbm, blend = [], [], [], [], []
    for seed in seeds:
        model, history = train_multitask(arrays, labels, fit_index, dims, config, seed)
        models.append(model)
        score = ensemble_predict([model], arrays.subset(test))["default"]
        runs.append(float(roc_auc_score(y_test, score)))
        logreg.append(
            float(
                roc_auc_score(
                    y_test,
                    fit_logistic_regression(data.raw[train], data.y[train], seed).predict_proba(data.raw[test])[:, 1],
                )
            )
        )
        gbm_score = fit_hist_gbm(data.raw[train], data.y[train], seed).predict_proba(data.raw[test])[:, 1]
        gbm.append(float(roc_auc_score(y_test, gbm_score)))
        blend.append(float(roc_auc_score(y_test, _rank(score) + _rank(gbm_score))))
        progress(
            f"uci_credit seed {seed}: {len(history)} epochs, AUC model {runs[-1]:.4f}, "
            f"logreg {logreg[-1]:.4f}, hist_gbm {gbm[-1]:.4f}, model+gbm {blend[-1]:.4f}"
        )
    ensemble = ensemble_predict(models, arrays.subset(test))["default"]
    return {
        "auc": mean_std(runs),
        "auc_logreg": mean_std(logreg),
        "auc_hist_gbm": mean_std(gbm),
        "auc_ensemble": float(roc_auc_score(y_test, ensemble)),
        "auc_model_plus_hist_gbm": mean_std(blend),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "default_rate_test": float(y_test.mean()),
    }


def _rank(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(pct=True).to_numpy()
