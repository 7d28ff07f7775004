"""Property-based tests of the cleaning functions: on any mix of good and dirty rows, every
input row comes out exactly once, either clean or quarantined with a known reason and its raw
row as the payload."""

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrisk_dagster.sources.cleaning import clean as clean_table
from mmrisk_dagster.sources.contract import CONTRACTS
from mmrisk_dagster.sources.rejection import MAX_TEXT_CHARS, REASONS
from tests import TEST_SALT

DAYS = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])

keys = st.sampled_from(["A", "B", "C", None, "", "  "])
ids = st.sampled_from(["1", "2", "3", None, " "])
days = st.sampled_from(list(DAYS))
numbers = st.one_of(
    st.floats(min_value=-10, max_value=1e4),
    st.sampled_from([np.nan, np.inf, "12.5", "abc", "", "1e3", "inf", None]),
)
stamps = st.sampled_from([
    "2024-01-02T09:00:00Z", "2024-01-03T01:00:00+09:00", "2024-01-02 23:59:59", "2024-01-03T09:00:00-0500",
    "2099-01-01T00:00:00Z", "yesterday", "", None,
])
day_strings = st.sampled_from(["2023-12-31", "2024-01-02", "2024-01-05", "31/12/2023", None])
texts = st.one_of(st.sampled_from(["", "   ", None, "x" * (MAX_TEXT_CHARS + 1)]), st.text(max_size=30))
labels = st.sampled_from(["positive", "Negative", " neutral ", "bullish", None])
event_types = st.sampled_from(["default", "DEFAULT", "downgrade", None])

ROWS = {
    "prices": {"entity_id": keys, "date": days, "open": numbers, "high": numbers, "low": numbers,
               "close": numbers, "volume": numbers},
    "fundamentals": {"entity_id": keys, "period_end": day_strings, "available_at": day_strings, "date": days,
                     "leverage": numbers, "roa": numbers},
    "news": {"doc_id": ids, "entity_id": keys, "published_at": stamps, "headline": texts, "body": texts,
             "sentiment_label": labels, "date": days},
    "social": {"post_id": ids, "entity_id": keys, "author_id": st.sampled_from(["@a", "@b", None]),
               "posted_at": stamps, "text": texts, "date": days},
    "events": {"entity_id": keys, "event_date": day_strings, "event_type": event_types, "date": days},
}


def frames(table: str):
    return st.lists(st.fixed_dictionaries(ROWS[table]), max_size=25).map(
        lambda rows: pd.DataFrame(rows, columns=list(ROWS[table])).astype({"date": "datetime64[ns]"})
    )


def clean(table: str, raw: pd.DataFrame):
    return clean_table(table, raw, TEST_SALT)


def assert_every_row_once(table: str, raw: pd.DataFrame):
    result = clean(table, raw)
    positions = np.concatenate([result.clean_rows, result.rejected_rows]).astype(int)
    assert sorted(positions) == list(range(len(raw))), "a row was lost or duplicated"
    assert len(result.clean) == len(result.clean_rows) and len(result.rejected) == len(result.rejected_rows)
    assert set(result.rejected["reason"]) <= set(REASONS)
    for payload, position in zip(result.rejected["payload"], result.rejected_rows, strict=True):
        row = json.loads(payload)  # strict JSON: no NaN tokens
        assert set(row) == set(raw.columns)
        original = raw.iloc[position]
        for column in CONTRACTS[table].key:
            value = original[column]
            assert row[column] == (None if pd.isna(value) else str(value) if column == "date" else value)
    key = list(dict.fromkeys([*CONTRACTS[table].key, "date"]))
    assert not result.clean.duplicated(key).any()
    first_key = CONTRACTS[table].key[0]
    if len(result.clean):
        kept = raw.iloc[result.clean_rows][first_key].astype(str).str.strip().tolist()
        assert result.clean[first_key].astype(str).str.strip().tolist() == kept
    # Row order changes which of two duplicates is kept, never what is kept or why rows are rejected.
    reversed_result = clean(table, raw.iloc[::-1].reset_index(drop=True))
    assert _reasons(reversed_result) == _reasons(result)
    assert sorted(map(str, reversed_result.clean[key].to_numpy().tolist())) == sorted(
        map(str, result.clean[key].to_numpy().tolist())
    )


def _reasons(result) -> dict:
    return result.rejected["reason"].value_counts().to_dict()


@PROPERTY_SETTINGS
@given(frames("prices"))
def test_prices_cleaning_keeps_or_quarantines_every_row_once(raw):
    assert_every_row_once("prices", raw)


@PROPERTY_SETTINGS
@given(frames("fundamentals"))
def test_fundamentals_cleaning_keeps_or_quarantines_every_row_once(raw):
    assert_every_row_once("fundamentals", raw)


@PROPERTY_SETTINGS
@given(frames("news"))
def test_news_cleaning_keeps_or_quarantines_every_row_once(raw):
    assert_every_row_once("news", raw)


@PROPERTY_SETTINGS
@given(frames("social"))
def test_social_cleaning_keeps_or_quarantines_every_row_once(raw):
    assert_every_row_once("social", raw)


@PROPERTY_SETTINGS
@given(frames("events"))
def test_events_cleaning_keeps_or_quarantines_every_row_once(raw):
    assert_every_row_once("events", raw)
