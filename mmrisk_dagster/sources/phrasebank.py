"""The `phrasebank` source: Financial PhraseBank (Malo et al. 2014) -> `news` with sentiment.

One `sentence@label` per line, latin-1 encoded, label in {positive, neutral, negative}. The
sentences carry no company and no date, so every one belongs to the entity `phrasebank` and is
dated `PUBLISHED_AT` (set the partition range to cover it). `doc_id` is `<file stem>-<line>`.
Only `news` has rows; the other tables read as empty.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmrisk_dagster.sources.contract import PARTITION_COLUMN, empty_table
from mmrisk_dagster.sources.files import SourceDataError

ENTITY_ID = "phrasebank"
PUBLISHED_AT = "2014-01-02T00:00:00+00:00"


def read_phrasebank(path: str | Path) -> pd.DataFrame:
    """news rows: doc_id, entity_id, published_at, headline (the sentence), body, sentiment_label."""
    file = Path(path)
    if not file.is_file():
        raise SourceDataError(path, "the PhraseBank file does not exist; set MMRISK_SOURCE_PATH")
    rows = []
    for line_number, line in enumerate(file.read_bytes().decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        sentence, separator, label = line.rpartition("@")
        if not separator:
            raise SourceDataError(file, "expected 'sentence@label'", line=line_number)
        rows.append((f"{file.stem}-{line_number}", sentence.strip(), label.strip()))
    frame = pd.DataFrame(rows, columns=["doc_id", "headline", "sentiment_label"])
    return frame.assign(
        entity_id=ENTITY_ID,
        published_at=PUBLISHED_AT,
        body=None,
        **{PARTITION_COLUMN: pd.Timestamp(PUBLISHED_AT[:10])},
    )[["doc_id", "entity_id", "published_at", "headline", "body", "sentiment_label", PARTITION_COLUMN]]


def read_phrasebank_table(path: str | Path, table: str) -> pd.DataFrame:
    return read_phrasebank(path) if table == "news" else empty_table(table)
