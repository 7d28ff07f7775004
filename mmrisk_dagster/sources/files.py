"""The `files` source: a folder holding one CSV or Parquet file per canonical table.

`<folder>/<table>.parquet` or `<folder>/<table>.csv`, with the columns of `sources.contract`.
This is how a user brings their own data. A table without a file reads as empty, so a folder
may hold only the modalities the user has.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN


class SourceDataError(ValueError):
    """A problem in user-supplied data, naming the file, column and row."""


def _table_file(folder: Path, table: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        candidate = (folder / f"{table}{suffix}").resolve()
        if folder.resolve() not in candidate.parents:
            raise SourceDataError(f"{candidate} is outside the source folder {folder}")
        if candidate.exists():
            return candidate
    return None


def read_files_table(path: str, table: str) -> pd.DataFrame:
    folder = Path(path)
    if not path or not folder.is_dir():
        raise SourceDataError(f"files source folder '{path}' does not exist")
    contract = CONTRACTS[table]
    file = _table_file(folder, table)
    if file is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in contract.required}).assign(
            **{PARTITION_COLUMN: pd.Series(dtype="datetime64[ns]")}
        )
    frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file, dtype=str)
    missing = [c for c in contract.required if c not in frame.columns]
    if missing:
        raise SourceDataError(f"{file}: missing required column(s) {missing}")
    dates = pd.to_datetime(frame[PARTITION_COLUMN], errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise SourceDataError(
            f"{file}: column '{PARTITION_COLUMN}' row {row + 2 if file.suffix == '.csv' else row}: "
            f"cannot parse {frame[PARTITION_COLUMN].iloc[row]!r} as a date"
        )
    return frame.assign(**{PARTITION_COLUMN: dates.dt.normalize()})
