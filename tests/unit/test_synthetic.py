import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from mmrisk_dagster.sources.cleaning import clean, fundamental_feature_columns
from tests import TEST_SALT
from mmrisk_dagster.sources.contract import CONTRACTS
from mmrisk_dagster.sources.synthetic import NEGATIVE_WORDS, POSITIVE_WORDS, SyntheticConfig, generate

from ..conftest import SMALL


def test_same_seed_same_universe_and_other_seed_differs():
    a, b = generate(SMALL), generate(SMALL)
    for table in CONTRACTS:
        pd.testing.assert_frame_equal(a.table(table), b.table(table))
    other = generate(SyntheticConfig(**{**SMALL.__dict__, "seed": SMALL.seed + 1}))
    assert not a.prices["close"].equals(other.prices["close"])


def test_tables_follow_the_contract(small_universe):
    for name, contract in CONTRACTS.items():
        frame = small_universe.table(name)
        assert set(contract.required) <= set(frame.columns), name
        assert len(frame) > 0, name


def test_universe_carries_realistic_dirt(default_universe):
    u = default_universe
    assert u.prices.duplicated(["entity_id", "date"]).any()
    assert u.prices["close"].isna().any()
    assert (u.prices["volume"] < 0).any()
    assert (u.prices["high"] < u.prices["low"]).any()
    stamps = u.news["published_at"].astype(str)
    assert stamps.str.contains(r"[+-]\d{4}$").any(), "non-UTC offsets"
    assert stamps.str.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").any(), "naive timestamps"
    assert (u.news["headline"] == "").any()
    assert u.social["text"].fillna("").str.strip().eq("").any()
    assert u.social["posted_at"].astype(str).str.startswith("2099").any(), "future timestamps"
    assert u.news["entity_id"].isna().any()


def test_defaults_happen_and_replaced_entities_start_without_history(default_universe):
    u = default_universe
    events = u.events.drop_duplicates()
    assert 15 <= len(events) <= 100
    first_price = u.prices.groupby("entity_id")["date"].min()
    late_listings = first_price[first_price > pd.Timestamp(u.config.start) + pd.Timedelta(days=30)]
    assert len(late_listings) > 0
    for entity in late_listings.index[:5]:
        filings = u.fundamentals[u.fundamentals["entity_id"] == entity]
        assert filings.empty or filings["date"].min() > first_price[entity]


def _lexicon_tone(texts: pd.Series) -> pd.Series:
    lower = texts.fillna("").str.lower()
    pos = sum(lower.str.contains(w, regex=False).astype(int) for w in POSITIVE_WORDS)
    neg = sum(lower.str.contains(w, regex=False).astype(int) for w in NEGATIVE_WORDS)
    return pos - neg


def _observable_features(u) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    cleaned = {t: clean(t, u.table(t), TEST_SALT).clean for t in CONTRACTS}
    px = cleaned["prices"].sort_values(["entity_id", "date"]).copy()
    r = np.log(px["close"] / px.groupby("entity_id")["close"].shift(1))
    px["rv20"] = np.log(r.groupby(px["entity_id"]).transform(lambda s: s.rolling(20, min_periods=10).std()))
    px["ret20"] = r.groupby(px["entity_id"]).transform(lambda s: s.rolling(20, min_periods=10).sum())
    px["range20"] = np.log(px["high"] / px["low"]).groupby(px["entity_id"]).transform(lambda s: s.rolling(20, min_periods=10).mean())
    frame = px
    for name, column, carry in (("news", "headline", 10), ("social", "text", 3)):
        docs = cleaned[name].assign(tone=lambda d: _lexicon_tone(d[column]))
        daily = docs.groupby(["entity_id", "date"])["tone"].agg(["mean", "size"]).reset_index()
        daily.columns = ["entity_id", "date", f"{name}_tone", f"{name}_count"]
        frame = frame.merge(daily, on=["entity_id", "date"], how="left").sort_values(["entity_id", "date"])
        frame[f"{name}_tone"] = frame.groupby("entity_id")[f"{name}_tone"].transform(
            lambda s: s.rolling(carry, min_periods=1).mean()
        )
        frame[f"{name}_count"] = frame[f"{name}_count"].fillna(0)
    filings = cleaned["fundamentals"]
    features = fundamental_feature_columns(filings)
    frame = pd.merge_asof(
        frame.sort_values("date"), filings[["entity_id", "date", *features]].sort_values("date"),
        on="date", by="entity_id",
    )
    frame = frame.merge(u.latent[["entity_id", "date", "z"]], on=["entity_id", "date"])
    groups = {
        "fundamentals": features,
        "prices": ["rv20", "ret20", "range20"],
        "news": ["news_tone", "news_count"],
        "social": ["social_tone", "social_count"],
    }
    return frame, groups


def test_no_single_modality_recovers_latent_risk_as_well_as_all_together(default_universe):
    """Linear probe of the true latent risk z on observable features of each modality."""
    frame, groups = _observable_features(default_universe)
    frame = frame.dropna(subset=["rv20"]).fillna(0.0)
    cut = frame["date"].quantile(0.6)
    train, test = frame[frame["date"] <= cut], frame[frame["date"] > cut]

    def r2(columns):
        model = LinearRegression().fit(train[columns], train["z"])
        return model.score(test[columns], test["z"])

    single = {name: r2(columns) for name, columns in groups.items()}
    together = r2([c for columns in groups.values() for c in columns])
    for name, score in single.items():
        assert score > 0.02, f"{name} carries no signal (R2 {score:.3f})"
        assert together > score + 0.05, f"{name} alone ({score:.3f}) is about as good as all ({together:.3f})"
