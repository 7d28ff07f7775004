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

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_offset, usable_date
from mmrisk_dagster.sources.contract import (
    CONTRACTS,
    PARTITION_COLUMN,
    SENTIMENT_LABELS,
    SOURCE_DATE_COLUMN,
    TableContract,
)
from mmrisk_dagster.sources.pseudonyms import pseudonymize

QUARANTINE_COLUMNS = ("source", "natural_key", "reason", "detail", "payload", PARTITION_COLUMN)
# Every reason code a quarantined row can carry (the quarantine suite checks against this list).
REASONS = (
    "null_key",
    "null_value",
    "wrong_type",
    "unparseable_timestamp",
    "future_timestamp",
    "out_of_range",
    "inconsistent_ohlc",
    "empty_text",
    "text_too_long",
    "duplicate_key",
    "non_finite",
    "control_character",
    "not_a_business_day",
    "date_mismatch",
)
MAX_TEXT_CHARS = 5_000
# Beyond these a value is a unit or data-entry error, not a market fact: the highest share price
# ever quoted is below 1e6, a day's volume in one name below 1e12, fundamentals below 1e15.
MAX_PRICE = 1e7
MAX_VOLUME = 1e13
MAX_ABS_FEATURE = 1e15
# NUL and the other C0/C1 control characters (tab, newline and carriage return are text).
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
# Columns that identify a person, per table: replaced by keyed pseudonyms before cleaning reads them.
PEOPLE_COLUMNS = {"social": ("author_id",)}
KNOWN_EVENT_TYPES = ("default",)


@dataclass
class CleaningResult:
    clean: pd.DataFrame
    rejected: pd.DataFrame
    clean_rows: np.ndarray  # position in the raw input of each clean row
    rejected_rows: np.ndarray  # position in the raw input of each rejected row
    entity_id_changes: dict[str, str]  # raw entity id -> its normalized form, where they differ


def _payload(record: dict) -> str:
    """The raw row as strict JSON (missing values are null, infinities are strings). Texts past
    MAX_TEXT_CHARS are cut (the raw table keeps them whole) so that one absurd value cannot
    bloat the quarantine."""
    for column, value in record.items():
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            record[column] = f"{value[:MAX_TEXT_CHARS]}...[cut: {len(value)} chars in the raw table]"
        elif value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            record[column] = None
        elif isinstance(value, float) and np.isinf(value):
            record[column] = str(value)
    return json.dumps(record, default=str, allow_nan=False)


class _Rejector:
    """Accumulates rejected rows with a reason; rows are removed from the working frame."""

    def __init__(self, contract: TableContract, raw: pd.DataFrame):
        self.contract = contract
        self.raw = raw
        self.parts: list[pd.DataFrame] = []
        self.positions: list[np.ndarray] = []
        self.moved = pd.Series(False, index=raw.index)  # rolled forward from a non-business day
        self.entity_id_changes: dict[str, str] = {}

    def reject(self, frame: pd.DataFrame, mask: pd.Series, reason: str, detail: str) -> pd.DataFrame:
        assert reason in REASONS, reason
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            bad = self.raw.loc[frame.index[mask]]
            self.positions.append(frame.index[mask].to_numpy())
            key = bad[list(self.contract.key)].astype(str).agg("|".join, axis=1)
            payload = [_payload(r) for r in bad.to_dict(orient="records")]
            self.parts.append(
                pd.DataFrame(
                    {
                        "source": self.contract.name,
                        "natural_key": key.to_numpy(),
                        "reason": reason,
                        "detail": detail,
                        "payload": payload,
                        PARTITION_COLUMN: pd.to_datetime(bad[PARTITION_COLUMN]).to_numpy(),
                    }
                )
            )
        return frame[~mask]

    def result(self, clean: pd.DataFrame) -> CleaningResult:
        rejected = pd.concat(self.parts, ignore_index=True) if self.parts else empty_quarantine()
        rejected_rows = np.concatenate(self.positions) if self.positions else np.array([], dtype=int)
        return CleaningResult(
            clean.reset_index(drop=True), rejected, clean.index.to_numpy(), rejected_rows, self.entity_id_changes
        )


def empty_quarantine() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
    frame[PARTITION_COLUMN] = pd.Series(dtype="datetime64[ns]")
    return frame


def parse_utc(values: pd.Series) -> pd.Series:
    """Parse timestamps written with any UTC offset (naive means UTC); failures become NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        return stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    # Naive and offset-bearing strings are parsed apart: in one call pandas lends a naive string
    # the offset of its neighbours.
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).fillna(False)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
    naive = ~has_offset & text.notna()
    if naive.any():
        out[naive] = pd.to_datetime(text[naive], errors="coerce", format="ISO8601").dt.tz_localize("UTC")
    return out


def _to_day(values: pd.Series) -> pd.Series:
    """Calendar days (naive midnight). Text must be ISO 8601, judged value by value: pandas
    would otherwise guess one format from the first row and fail every row written another way."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        return (stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps).dt.normalize()
    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None).dt.normalize()


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def normalize_entity_ids(values: pd.Series) -> pd.Series:
    """Unicode NFKC, surrounding whitespace trimmed, upper case (null and blank become null)."""
    mapping = {v: unicodedata.normalize("NFKC", str(v)).strip().upper() or None for v in values.dropna().unique()}
    return values.map(mapping).where(values.notna(), None)


def _control_characters(frame: pd.DataFrame) -> pd.Series:
    """Rows with a control character in any text cell. Checked before any parsing, which would
    otherwise cut a value at a NUL ("67\\x0034" read as 67)."""
    found = pd.Series(False, index=frame.index)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            text = frame[column].where(frame[column].map(lambda v: isinstance(v, str)), "")
            found |= text.str.contains(CONTROL_CHARACTERS, regex=True)
    return found


def _start(table: str, raw: pd.DataFrame) -> tuple[_Rejector, pd.DataFrame]:
    """Reject null keys, control characters and dates their partition does not match; type the
    partition column; normalize entity ids. The index ties rows back to `raw`."""
    raw = raw.reset_index(drop=True)
    contract = CONTRACTS[table]
    rejector = _Rejector(contract, raw)
    null_key = pd.concat([_blank(raw[c]) for c in contract.key], axis=1).any(axis=1)
    frame = rejector.reject(raw.copy(), null_key, "null_key", "a key column is null or blank")
    frame = rejector.reject(
        frame,
        _control_characters(frame),
        "control_character",
        "a value holds a NUL or other control character; remove it at the source",
    )
    frame = frame.assign(**{PARTITION_COLUMN: _to_day(frame[PARTITION_COLUMN])})
    if SOURCE_DATE_COLUMN in frame:
        written = _to_day(frame[SOURCE_DATE_COLUMN])
        expected = pd.Series(business_day_offset(written.fillna(frame[PARTITION_COLUMN]), 0), index=frame.index)
        frame = rejector.reject(
            frame,
            written.isna() | (expected != frame[PARTITION_COLUMN]),
            "date_mismatch",
            f"{SOURCE_DATE_COLUMN} does not roll forward to the partition `date` it is stored under",
        )
        rejector.moved.loc[frame.index] = (written.loc[frame.index] != frame[PARTITION_COLUMN]).to_numpy()
    if "entity_id" in frame:
        normalized = normalize_entity_ids(frame["entity_id"])
        changed = normalized.notna() & (normalized != frame["entity_id"].astype(str))
        rejector.entity_id_changes = dict(zip(frame["entity_id"][changed].astype(str), normalized[changed]))
        frame = frame.assign(entity_id=normalized)
    return rejector, frame


def _dedupe(rejector: _Rejector, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per key and partition: the first genuine row wins; a row moved from a weekend
    only when no row was written for the partition day itself."""
    keys = list(dict.fromkeys([*rejector.contract.key, PARTITION_COLUMN]))
    moved = rejector.moved.loc[frame.index]
    ranked = frame.assign(_moved=moved.to_numpy()).sort_values("_moved", kind="stable")
    repeated = ranked.duplicated(keys, keep="first").reindex(frame.index)
    frame = rejector.reject(frame, repeated & ~moved, "duplicate_key", f"repeats key {keys}")
    return rejector.reject(
        frame,
        repeated.loc[frame.index] & moved.loc[frame.index],
        "duplicate_key",
        f"moved from a non-business day onto a row already kept for key {keys} (rows written for the day win)",
    )


def _finite(rejector: _Rejector, frame: pd.DataFrame, columns: list[str], bound: float, what: str) -> pd.DataFrame:
    values = frame[columns].to_numpy(dtype=float)
    infinite = pd.Series(np.isinf(values).any(axis=1), index=frame.index)
    frame = rejector.reject(frame, infinite, "non_finite", f"an infinite value in {what}")
    absurd = pd.Series((np.abs(frame[columns].to_numpy(dtype=float)) > bound).any(axis=1), index=frame.index)
    return rejector.reject(frame, absurd, "out_of_range", f"{what} beyond {bound:g}: a unit or entry error")


def _numeric(rejector: _Rejector, frame: pd.DataFrame, columns) -> pd.DataFrame:
    for column in columns:
        as_number = pd.to_numeric(frame[column], errors="coerce")
        frame = rejector.reject(
            frame,
            as_number.isna() & frame[column].notna(),
            "wrong_type",
            f"{column} is not numeric",
        )
        frame = frame.assign(**{column: pd.to_numeric(frame[column], errors="coerce").astype(float)})
    return frame


def _timestamps(rejector: _Rejector, frame: pd.DataFrame, column: str) -> pd.DataFrame:
    parsed = parse_utc(frame[column])
    frame = rejector.reject(frame, parsed.isna(), "unparseable_timestamp", f"{column} unparseable")
    parsed = parsed.loc[frame.index]
    future = usable_date(parsed) > frame[PARTITION_COLUMN]
    frame = rejector.reject(frame, future, "future_timestamp", f"{column} after the partition it arrived in")
    return frame.assign(**{column: parsed.loc[frame.index]})


def clean_prices(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = _start("prices", raw)
    ohlcv = ["open", "high", "low", "close", "volume"]
    frame = _numeric(rejector, frame, ohlcv)
    # Volume is optional (sources.contract): a blank one stays null, the features do without it.
    frame = rejector.reject(frame, frame[ohlcv[:4]].isna().any(axis=1), "null_value", "null OHLC")
    frame = _finite(rejector, frame, ["open", "high", "low", "close"], MAX_PRICE, "a price")
    frame = _finite(rejector, frame, ["volume"], MAX_VOLUME, "volume")
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
    frame = _dedupe(rejector, frame)
    return rejector.result(frame[["entity_id", PARTITION_COLUMN, *ohlcv]])


def fundamental_feature_columns(frame: pd.DataFrame) -> list[str]:
    reserved = {*CONTRACTS["fundamentals"].required, SOURCE_DATE_COLUMN}
    return [c for c in frame.columns if c not in reserved]


def clean_fundamentals(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = _start("fundamentals", raw)
    features = fundamental_feature_columns(frame)
    frame = _numeric(rejector, frame, features)
    for column in ("period_end", "available_at"):
        day = _to_day(frame[column])
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
    frame = _finite(rejector, frame, features, MAX_ABS_FEATURE, "a feature")
    if "log_total_assets" in frame:
        frame = rejector.reject(frame, frame["log_total_assets"] < 0, "out_of_range", "log_total_assets < 0")
    frame = _dedupe(rejector, frame)
    return rejector.result(frame[["entity_id", "period_end", "available_at", *features, PARTITION_COLUMN]])


def _text_checks(rejector: _Rejector, frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = rejector.reject(
        frame,
        pd.concat([_blank(frame[c]) for c in columns], axis=1).all(axis=1),
        "empty_text",
        f"{'/'.join(columns)} empty",
    )
    too_long = pd.concat([frame[c].fillna("").astype(str).str.len() > MAX_TEXT_CHARS for c in columns], axis=1).any(
        axis=1
    )
    return rejector.reject(frame, too_long, "text_too_long", f"longer than {MAX_TEXT_CHARS} chars")


def clean_news(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = _start("news", raw)
    frame = rejector.reject(frame, frame["entity_id"].isna(), "null_value", "entity_id is null")
    frame = _timestamps(rejector, frame, "published_at")
    frame = _text_checks(rejector, frame, ("headline", "body"))
    labels = frame["sentiment_label"] if "sentiment_label" in frame else pd.Series(None, index=frame.index)
    labels = labels.where(labels.notna(), None).map(lambda v: v.lower().strip() if isinstance(v, str) else v)
    frame = rejector.reject(
        frame,
        labels.notna() & ~labels.isin(SENTIMENT_LABELS),
        "out_of_range",
        f"sentiment_label not in {SENTIMENT_LABELS}",
    )
    frame = _dedupe(rejector, frame)
    headline = frame["headline"].fillna("").astype(str).str.strip()
    body = frame["body"].where(~_blank(frame["body"]), None)
    out = frame.assign(
        headline=headline,
        body=body,
        sentiment_label=labels.loc[frame.index],
    )
    return rejector.result(
        out[["doc_id", "entity_id", "published_at", "headline", "body", "sentiment_label", PARTITION_COLUMN]]
    )


def clean_social(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = _start("social", raw)
    frame = rejector.reject(frame, frame["entity_id"].isna(), "null_value", "entity_id is null")
    frame = _timestamps(rejector, frame, "posted_at")
    frame = _text_checks(rejector, frame, ("text",))
    frame = _dedupe(rejector, frame)
    out = frame.assign(text=frame["text"].astype(str).str.strip())
    return rejector.result(out[["post_id", "entity_id", "author_id", "posted_at", "text", PARTITION_COLUMN]])


def clean_events(raw: pd.DataFrame) -> CleaningResult:
    rejector, frame = _start("events", raw)
    day = _to_day(frame["event_date"])
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
    frame = _dedupe(rejector, frame)
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
