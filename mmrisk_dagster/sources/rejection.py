"""What cleaning shares across tables: the quarantine's shape and reason codes, the `Rejector`
that moves a row there with its reason, and the checks every table gets (null keys, control
characters, partition dates, entity ids, duplicates, numbers, timestamps). The per-table rules
are in `cleaning.py`.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_offset, usable_date
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN, SOURCE_DATE_COLUMN, TableContract

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
# NUL and the other C0/C1 control characters (tab, newline and carriage return are text).
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"


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


class Rejector:
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


def to_day(values: pd.Series) -> pd.Series:
    """Calendar days (naive midnight). Text must be ISO 8601, judged value by value: pandas
    would otherwise guess one format from the first row and fail every row written another way."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        return (stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps).dt.normalize()
    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None).dt.normalize()


def is_blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def normalize_entity_ids(values: pd.Series) -> pd.Series:
    """Unicode NFKC, surrounding whitespace trimmed, upper case (null and blank become null)."""
    mapping = {v: unicodedata.normalize("NFKC", str(v)).strip().upper() or None for v in values.dropna().unique()}
    return values.map(mapping).where(values.notna(), None)


def control_characters(frame: pd.DataFrame) -> pd.Series:
    """Rows with a control character in any text cell. Checked before any parsing, which would
    otherwise cut a value at a NUL ("67\\x0034" read as 67)."""
    found = pd.Series(False, index=frame.index)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            text = frame[column].where(frame[column].map(lambda v: isinstance(v, str)), "")
            found |= text.str.contains(CONTROL_CHARACTERS, regex=True)
    return found


def start_cleaning(table: str, raw: pd.DataFrame) -> tuple[Rejector, pd.DataFrame]:
    """Reject null keys, control characters and dates their partition does not match; type the
    partition column; normalize entity ids. The index ties rows back to `raw`."""
    raw = raw.reset_index(drop=True)
    contract = CONTRACTS[table]
    rejector = Rejector(contract, raw)
    null_key = pd.concat([is_blank(raw[c]) for c in contract.key], axis=1).any(axis=1)
    frame = rejector.reject(raw.copy(), null_key, "null_key", "a key column is null or blank")
    frame = rejector.reject(
        frame,
        control_characters(frame),
        "control_character",
        "a value holds a NUL or other control character; remove it at the source",
    )
    frame = frame.assign(**{PARTITION_COLUMN: to_day(frame[PARTITION_COLUMN])})
    if SOURCE_DATE_COLUMN in frame:
        written = to_day(frame[SOURCE_DATE_COLUMN])
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


def dedupe(rejector: Rejector, frame: pd.DataFrame) -> pd.DataFrame:
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


def reject_non_finite(
    rejector: Rejector, frame: pd.DataFrame, columns: list[str], bound: float, what: str
) -> pd.DataFrame:
    values = frame[columns].to_numpy(dtype=float)
    infinite = pd.Series(np.isinf(values).any(axis=1), index=frame.index)
    frame = rejector.reject(frame, infinite, "non_finite", f"an infinite value in {what}")
    absurd = pd.Series((np.abs(frame[columns].to_numpy(dtype=float)) > bound).any(axis=1), index=frame.index)
    return rejector.reject(frame, absurd, "out_of_range", f"{what} beyond {bound:g}: a unit or entry error")


def coerce_numeric(rejector: Rejector, frame: pd.DataFrame, columns) -> pd.DataFrame:
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


def check_timestamps(rejector: Rejector, frame: pd.DataFrame, column: str) -> pd.DataFrame:
    parsed = parse_utc(frame[column])
    frame = rejector.reject(frame, parsed.isna(), "unparseable_timestamp", f"{column} unparseable")
    parsed = parsed.loc[frame.index]
    future = usable_date(parsed) > frame[PARTITION_COLUMN]
    frame = rejector.reject(frame, future, "future_timestamp", f"{column} after the partition it arrived in")
    return frame.assign(**{column: parsed.loc[frame.index]})
