import json

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.sources.cleaning import clean, clean_news, clean_prices
from mmrisk_dagster.sources.pseudonyms import pseudonymize
from mmrisk_dagster.sources.rejection import parse_utc
from tests import TEST_SALT


def _clean(table, raw):
    return clean(table, raw, TEST_SALT)


@pytest.mark.parametrize("table", ["fundamentals", "prices", "news", "social", "events"])
def test_every_row_is_clean_or_quarantined_exactly_once(default_universe, table):
    raw = default_universe.table(table)
    result = _clean(table, raw)
    assert len(raw) == len(result.clean) + len(result.rejected)
    assert len(result.rejected) > 0, "the synthetic universe plants dirt in every table"
    assert result.rejected["reason"].notna().all()
    payloads = [json.loads(p) for p in result.rejected["payload"]]
    assert all(set(raw.columns) <= set(p) for p in payloads)


def test_naive_and_offset_timestamps_parse_to_the_same_utc_instant():
    values = pd.Series(
        ["2024-01-25 22:51:31", "2024-01-25T17:51:31-0500", "2024-01-26 07:51:31+0900", "2024-01-25T22:51:31Z", "nope"]
    )
    parsed = parse_utc(values)
    assert parsed.iloc[:4].nunique() == 1
    assert parsed.iloc[0] == pd.Timestamp("2024-01-25 22:51:31", tz="UTC")
    assert pd.isna(parsed.iloc[4])


def test_prices_reject_reasons_and_keep_valid_rows():
    raw = pd.DataFrame(
        {
            "entity_id": ["A", "A", "B", "C", "D", None],
            "date": pd.to_datetime(["2024-01-02"] * 6),
            "open": [10, 10, 10, 10, -1, 10],
            "high": [11, 11, 9, 11, 11, 11],
            "low": [9, 9, 10, 9, 9, 9],
            "close": [10.5, 10.5, 10, np.nan, 10, 10],
            "volume": [100, 100, 100, 100, 100, 100],
        }
    )
    result = clean_prices(raw)
    assert list(result.clean["entity_id"]) == ["A"]
    assert sorted(result.rejected["reason"]) == sorted(
        ["duplicate_key", "inconsistent_ohlc", "null_value", "out_of_range", "null_key"]
    )


def test_news_rejects_empty_future_and_unparseable():
    raw = pd.DataFrame(
        {
            "doc_id": ["1", "2", "3", "4"],
            "entity_id": ["A"] * 4,
            "published_at": ["2024-01-02T10:00:00Z", "2024-01-02T10:00:00Z", "2024-01-09T10:00:00Z", "garbage"],
            "headline": ["fine", "  ", "from the future", "x"],
            "body": [None, None, None, None],
            "sentiment_label": ["Positive", None, None, None],
            "date": pd.to_datetime(["2024-01-02"] * 4),
        }
    )
    result = clean_news(raw)
    assert list(result.clean["doc_id"]) == ["1"]
    assert result.clean["sentiment_label"].iloc[0] == "positive"
    assert set(result.rejected["reason"]) == {"empty_text", "future_timestamp", "unparseable_timestamp"}


def test_quarantined_posts_keep_the_authors_pseudonym_never_the_handle(default_universe):
    raw = default_universe.social
    result = clean("social", raw, TEST_SALT)
    payloads = [json.loads(p) for p in result.rejected["payload"]]
    assert len(payloads) > 0 and not any("@" in str(p["author_id"]) for p in payloads)
    expected = pseudonymize(raw["author_id"].iloc[result.rejected_rows].fillna("unknown"), TEST_SALT)
    assert [p["author_id"] for p in payloads] == expected.tolist()


def test_cleaned_social_has_no_raw_handles(default_universe):
    social = clean("social", default_universe.social, TEST_SALT).clean
    assert not social["author_id"].str.startswith("@").any()
    assert str(social["posted_at"].dt.tz) == "UTC"


def test_a_row_stored_under_a_partition_its_date_does_not_roll_to_is_quarantined():
    raw = pd.DataFrame({
        "entity_id": ["A", "B"], "date": pd.to_datetime(["2024-01-08", "2024-01-08"]),
        "source_date": pd.to_datetime(["2024-01-06", "2024-01-03"]),  # Saturday rolls to Monday; Wednesday does not
        "event_date": ["2024-01-05", "2024-01-02"], "event_type": ["default", "default"],
    })
    result = clean("events", raw, TEST_SALT)
    assert result.clean["entity_id"].tolist() == ["A"]
    assert result.rejected["reason"].tolist() == ["date_mismatch"]
