"""Cleaning: raw canonical tables -> typed, deduplicated, UTC tables plus quarantined rows.

Every input row ends in exactly one of the two outputs (`CleaningResult.clean` or
`.rejected`), so `len(raw) == len(clean) + len(rejected)` always holds; `clean_rows` and
`rejected_rows` say which input row each output row came from (together a permutation of the
input positions). Duplicates are judged within a partition (`date`), which keeps re-running one
partition equivalent to re-running a range that contains it; a key repeated across partitions is
found by the cleaned tables' blocking `keys_unique_across_partitions` check.

Nothing is changed without saying so: a value cleaning cannot take as written (non-finite or
absurd numbers, NUL and other control characters, a date its partition does not match) sends
its row to the quarantine with a reason; the only rewrites are the documented ones below.

* Entity ids are normalized (Unicode NFKC, surrounding whitespace trimmed, upper case), so that
  "acme", " ACME" and the full-width "ＡＣＭＥ" are one entity; `entity_id_changes` records every
  raw spelling that changed.
* Weekend and offset dates, one rule: `date` is read as a UTC calendar day (an offset is
  converted) and a row belongs to the first business day on or after it; the raw table keeps
  the day as written in `source_date`. A moved row never displaces a genuine one: when it
  collides with a row written for the partition day itself, the moved row is quarantined
  (`duplicate_key`). Prices are observations of one trading day, so a price dated on a
  non-business day is quarantined (`not_a_business_day`) instead of moved.
* People's identifiers are replaced by keyed pseudonyms before anything reads them (`clean`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from mmrisk_dagster.sources.contract import (
    CONTRACTS,
    PARTITION_COLUMN,
    SENTIMENT_LABELS,
    SOURCE_DATE_COLUMN,
)
from mmrisk_dagster.sources.pseudonyms import pseudonymize
from mmrisk_dagster.sources.rejection import (
    MAX_TEXT_CHARS,
    CleaningResult,
    Rejector,
    check_timestamps,
    coerce_numeric,
    dedupe,
    is_blank,
    reject_non_finite,
    start_cleaning,
    to_day,
)

# Beyond these a value is a unit or data-entry error, not a market fact: the highest share price
# ever quoted is below 1e6, a day's volume in one name below 1e12, fundamentals below 1e15.
MAX_PRICE = 1e7
MAX_VOLUME = 1e13
MAX_ABS_FEATURE = 1e15
# Columns that identify a person, per table: replaced by keyed pseudonyms before cleaning reads them.
PEOPLE_COLUMNS = {"social": ("author_id",)}
KNOWN_EVENT_TYPES = ("default",)


def clean_prices(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = start_cleaning("prices", raw)
    ohlcv = ["open", "high", "low", "close", "volume"]
    frame = coerce_numeric(rejector, frame, ohlcv)
    # Volume is optional (sources.contract): a blank one stays null, the features do without it.
    frame = rejector.reject(frame, frame[ohlcv[:4]].isna().any(axis=1), "null_value", "null OHLC")
    frame = reject_non_finite(rejector, frame, ["open", "high", "low", "close"], MAX_PRICE, "a price")
    frame = reject_non_finite(rejector, frame, ["volume"], MAX_VOLUME, "volume")
    frame = rejector.reject(
        frame,
        rejector.moved.loc[frame.index],
        "not_a_business_day",
        "a price dated on a weekend or holiday (prices are not moved to the next business day)",
    )
    frame = rejector.reject(
        frame, (frame[["open", "high", "low", "close"]] <= 0).any(axis=1), "out_of_range", "price <= 0"
    )
    frame = rejector.reject(frame, frame["volume"] < 0, "out_of_range", "volume < 0")
    inconsistent = (frame["high"] < frame[["open", "close", "low"]].max(axis=1)) | (
        frame["low"] > frame[["open", "close", "high"]].min(axis=1)
    )
    frame = rejector.reject(frame, inconsistent, "inconsistent_ohlc", "high/low do not bound open/close")
    frame = dedupe(rejector, frame)
    return rejector.result(frame[["entity_id", PARTITION_COLUMN, *ohlcv]])


def fundamental_feature_columns(frame: pd.DataFrame) -> list[str]:
    reserved = {*CONTRACTS["fundamentals"].required, SOURCE_DATE_COLUMN}
    return [c for c in frame.columns if c not in reserved]


def clean_fundamentals(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = start_cleaning("fundamentals", raw)
    features = fundamental_feature_columns(frame)
    frame = coerce_numeric(rejector, frame, features)
    for column in ("period_end", "available_at"):
        day = to_day(frame[column])
        frame = rejector.reject(frame, day.isna(), "unparseable_timestamp", f"{column} unparseable")
        frame = frame.assign(**{column: day.loc[frame.index]})
    frame = rejector.reject(
        frame,
        frame["available_at"] < frame["period_end"],
        "out_of_range",
        "available_at before period_end",
    )
    frame = rejector.reject(
        frame,
        frame["available_at"] > frame[PARTITION_COLUMN],
        "future_timestamp",
        "available_at after the partition it arrived in",
    )
    frame = reject_non_finite(rejector, frame, features, MAX_ABS_FEATURE, "a feature")
    if "log_total_assets" in frame:
        frame = rejector.reject(frame, frame["log_total_assets"] < 0, "out_of_range", "log_total_assets < 0")
    frame = dedupe(rejector, frame)
    return rejector.result(frame[["entity_id", "period_end", "available_at", *features, PARTITION_COLUMN]])


def _text_checks(rejector: Rejector, frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = rejector.reject(
        frame,
        pd.concat([is_blank(frame[c]) for c in columns], axis=1).all(axis=1),
        "empty_text",
        f"{'/'.join(columns)} empty",
    )
    too_long = pd.concat([frame[c].fillna("").astype(str).str.len() > MAX_TEXT_CHARS for c in columns], axis=1).any(
        axis=1
    )
    return rejector.reject(frame, too_long, "text_too_long", f"longer than {MAX_TEXT_CHARS} chars")


def clean_news(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = start_cleaning("news", raw)
    frame = rejector.reject(frame, frame["entity_id"].isna(), "null_value", "entity_id is null")
    frame = check_timestamps(rejector, frame, "published_at")
    frame = _text_checks(rejector, frame, ("headline", "body"))
    labels = frame["sentiment_label"] if "sentiment_label" in frame else pd.Series(None, index=frame.index)
    labels = labels.where(labels.notna(), None).map(lambda v: v.lower().strip() if isinstance(v, str) else v)
    frame = rejector.reject(
        frame,
        labels.notna() & ~labels.isin(SENTIMENT_LABELS),
        "out_of_range",
        f"sentiment_label not in {SENTIMENT_LABELS}",
    )
    frame = dedupe(rejector, frame)
    headline = frame["headline"].fillna("").astype(str).str.strip()
    body = frame["body"].where(~is_blank(frame["body"]), None)
    out = frame.assign(
        headline=headline,
        body=body,
        sentiment_label=labels.loc[frame.index],
    )
    return rejector.result(
        out[["doc_id", "entity_id", "published_at", "headline", "body", "sentiment_label", PARTITION_COLUMN]]
    )


def clean_social(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = start_cleaning("social", raw)
    frame = rejector.reject(frame, frame["entity_id"].isna(), "null_value", "entity_id is null")
    frame = check_timestamps(rejector, frame, "posted_at")
    frame = _text_checks(rejector, frame, ("text",))
    frame = dedupe(rejector, frame)
    out = frame.assign(text=frame["text"].astype(str).str.strip())
    return rejector.result(out[["post_id", "entity_id", "author_id", "posted_at", "text", PARTITION_COLUMN]])


def clean_events(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = start_cleaning("events", raw)
    day = to_day(frame["event_date"])
    frame = rejector.reject(frame, day.isna(), "unparseable_timestamp", "event_date unparseable")
    frame = frame.assign(event_date=day.loc[frame.index], event_type=frame["event_type"].astype(str).str.lower())
    frame = rejector.reject(
        frame,
        frame["event_date"] > frame[PARTITION_COLUMN],
        "future_timestamp",
        "event_date after the partition it arrived in",
    )
    frame = rejector.reject(
        frame,
        ~frame["event_type"].isin(KNOWN_EVENT_TYPES),
        "out_of_range",
        f"event_type not in {KNOWN_EVENT_TYPES}",
    )
    frame = dedupe(rejector, frame)
    return rejector.result(frame[["entity_id", "event_date", "event_type", PARTITION_COLUMN]])


_CLEANERS: dict[str, Callable[[pd.DataFrame], CleaningResult]] = {
    "fundamentals": clean_fundamentals,
    "prices": clean_prices,
    "news": clean_news,
    "social": clean_social,
    "events": clean_events,
}


def clean(table: str, raw: pd.DataFrame, salt: str) -> CleaningResult:
    """Clean one canonical table. People's identifiers (`PEOPLE_COLUMNS`) are pseudonymized
    first, so neither the clean rows nor the quarantine payloads ever hold a raw one."""
    if table not in _CLEANERS:
        raise ValueError(f"unknown table '{table}'; the contract defines {sorted(_CLEANERS)}")
    people = [c for c in PEOPLE_COLUMNS.get(table, ()) if c in raw.columns]
    if people:
        # A missing identifier becomes the pseudonym of "unknown": one anonymous group of people.
        raw = raw.assign(**{c: pseudonymize(raw[c].fillna("unknown"), salt) for c in people})
    return _CLEANERS[table](raw)
