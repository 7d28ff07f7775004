"""The canonical data contract every source adapter produces.

Every table carries `date`, the business day on which its rows became usable; it is the
partition key of the daily-partitioned raw and cleaned assets. Raw tables keep timestamps as
the source wrote them (strings, any UTC offset); cleaning parses them to UTC.

Optional columns (`TableContract.optional`) may be absent from a source or blank on any row;
an absent one reads as all-null. What the graph does without them:
* prices `volume`: the volume z-score feature is 0 and charts have an empty volume pane;
* news `body`: the headline alone is the text (a row needs a headline or a body);
* social `author_id`: every post counts as one author (`unknown`, pseudonymized like the rest).
Timestamps (`published_at`, `posted_at`) may be bare days: a day without a time of day is
midnight UTC, so the record is usable on that business day.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

PARTITION_COLUMN = "date"
# Raw tables only: the UTC calendar day `date` named before it rolled forward to a business day
# (equal to `date` on business days). Cleaning uses it and drops it.
SOURCE_DATE_COLUMN = "source_date"


@dataclass(frozen=True)
class TableContract:
    name: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    timestamp_columns: tuple[str, ...] = ()
    text_columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    # Numeric feature columns beyond `required` are allowed (fundamentals).
    open_numeric: bool = False
    # Columns of `required` a source may leave out or blank (read as null).
    optional: tuple[str, ...] = ()


FUNDAMENTALS = TableContract(
    name="fundamentals",
    key=("entity_id", "period_end"),
    required=("entity_id", "period_end", "available_at", PARTITION_COLUMN),
    open_numeric=True,
)
PRICES = TableContract(
    name="prices",
    key=("entity_id", PARTITION_COLUMN),
    required=("entity_id", PARTITION_COLUMN, "open", "high", "low", "close", "volume"),
    numeric_columns=("open", "high", "low", "close", "volume"),
    optional=("volume",),
)
NEWS = TableContract(
    name="news",
    key=("doc_id",),
    required=("doc_id", "entity_id", "published_at", "headline", "body", PARTITION_COLUMN),
    timestamp_columns=("published_at",),
    text_columns=("headline", "body"),
    optional=("body",),
)
SOCIAL = TableContract(
    name="social",
    key=("post_id",),
    required=("post_id", "entity_id", "author_id", "posted_at", "text", PARTITION_COLUMN),
    timestamp_columns=("posted_at",),
    text_columns=("text",),
    optional=("author_id",),
)
EVENTS = TableContract(
    name="events",
    key=("entity_id", "event_date", "event_type"),
    required=("entity_id", "event_date", "event_type", PARTITION_COLUMN),
)

CONTRACTS: dict[str, TableContract] = {c.name: c for c in (FUNDAMENTALS, PRICES, NEWS, SOCIAL, EVENTS)}
SENTIMENT_LABELS = ("negative", "neutral", "positive")

# What each column of the canonical tables means (the catalog shows these in the UI). Raw tables
# carry the same columns, timestamps still as the source wrote them.
_DATE = "Business day on which the row became usable; the partition key."
COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "fundamentals": {
        "entity_id": "Company or borrower identifier.",
        "period_end": "End of the reporting period the filing covers.",
        "available_at": "When the filing became public; nothing uses it earlier.",
        PARTITION_COLUMN: _DATE,
    },
    "prices": {
        "entity_id": "Company identifier.",
        PARTITION_COLUMN: "Trading day; the partition key.",
        "open": "Opening price.",
        "high": "Highest price of the day.",
        "low": "Lowest price of the day.",
        "close": "Closing price.",
        "volume": "Shares traded.",
    },
    "news": {
        "doc_id": "Document identifier (unique).",
        "entity_id": "Company the article is about.",
        "published_at": "Publication time (UTC once cleaned).",
        "headline": "Headline text.",
        "body": "Article text (may be empty).",
        "sentiment_label": "Annotated tone (negative, neutral, positive) where the source has one.",
        PARTITION_COLUMN: _DATE,
    },
    "social": {
        "post_id": "Post identifier (unique).",
        "entity_id": "Company the post mentions.",
        "author_id": "Author: the raw handle in raw_social, a keyed-hash pseudonym once cleaned.",
        "posted_at": "Posting time (UTC once cleaned).",
        "text": "Post text.",
        PARTITION_COLUMN: _DATE,
    },
    "events": {
        "entity_id": "Company or borrower identifier.",
        "event_date": "Day the credit event happened.",
        "event_type": "Kind of credit event (default).",
        PARTITION_COLUMN: _DATE,
    },
}
# Fundamentals also carry one float column per numeric feature of the source (`open_numeric`).
OPEN_NUMERIC_DESCRIPTION = "Numeric feature of the filing, as the source reports it."


def empty_table(table: str) -> pd.DataFrame:
    """A table of the contract with its required columns and no rows (a source without it)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in CONTRACTS[table].required})
    return frame.assign(**{PARTITION_COLUMN: pd.Series(dtype="datetime64[ns]")})
