"""The `files` source: a folder holding one CSV or Parquet file per canonical table.

`<folder>/<table>.parquet` or `<folder>/<table>.csv`, with the columns of `sources.contract`.
This is how a user brings their own data. A table without a file reads as empty, so a folder
may hold only the modalities the user has.

The folder is checked before anything is loaded, and every problem that makes a file unreadable
as a whole raises `SourceDataError` naming the file, the column and the line (CSV, counting the
header as line 1) or row (Parquet, from 1): a missing or empty file, an unknown or ambiguous
table file, a table in a format it does not read (`prices.csv.gz`, `prices.xlsx`), a path leading outside the folder, text that is not UTF-8, a malformed line, a
missing or repeated column, a nested or binary Parquet column, a `date` that is not an ISO 8601
day. Problems confined to single rows (wrong type, unparseable or future timestamps, duplicate
keys, over-long text...) are left to cleaning, which quarantines those rows with a reason.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN, TableContract, empty_table

SUFFIXES = (".parquet", ".csv")
# Written for "no number" by spreadsheets and databases; read as null in numeric columns only,
# so that an entity called "NA" or a headline "None" stays text.
NUMERIC_NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A", "-"]


class SourceDataError(ValueError):
    """A problem in user-supplied data, naming the file, column and line/row."""

    def __init__(
        self,
        file: Path | str,
        problem: str,
        *,
        column: str | None = None,
        line: int | None = None,
        row: int | None = None,
    ):
        self.file, self.problem, self.column, self.line, self.row = str(file), problem, column, line, row
        where = [str(file)]
        if column is not None:
            where.append(f"column '{column}'")
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {problem}")


def table_files(path: str) -> dict[str, Path]:
    """The folder's table files by table name, after checking the folder as a whole."""
    folder = Path(path) if path else None
    if folder is None or not folder.is_dir():
        raise SourceDataError(path or "(no folder)", "the files source folder does not exist; set MMRISK_SOURCE_PATH")
    root = folder.resolve()
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() not in SUFFIXES or entry.name.count(".") > 1:
            table = entry.name.split(".")[0]
            if table in CONTRACTS and not entry.name.startswith("."):
                # Ignoring it would silently treat the table as absent.
                raise SourceDataError(
                    entry,
                    f"the files source reads only {table}.csv or {table}.parquet, not compressed or "
                    f"spreadsheet files; decompress or export it as {table}.csv (UTF-8) or {table}.parquet",
                )
            continue  # READMEs, notes: not data
        table = entry.stem
        if table not in CONTRACTS:
            raise SourceDataError(
                entry,
                f"not a table of the data contract; name files after one of {sorted(CONTRACTS)} (.csv or .parquet)",
            )
        if table in found:
            raise SourceDataError(entry, f"{found[table].name} holds the same table: keep one of the two")
        resolved = entry.resolve()
        if root not in resolved.parents:
            raise SourceDataError(entry, f"leads to {resolved}, outside the source folder {root}")
        if not resolved.is_file():
            raise SourceDataError(entry, "is not a regular file")
        found[table] = entry
    return found


def read_files_table(path: str, table: str) -> pd.DataFrame:
    contract = CONTRACTS[table]
    file = table_files(path).get(table)
    if file is None:
        return empty_table(table)
    frame = _read_csv(file, contract) if file.suffix.lower() == ".csv" else _read_parquet(file)
    missing = [c for c in contract.required if c not in frame.columns and c not in contract.optional]
    if missing:
        raise SourceDataError(
            file, f"missing required column(s) {missing}; the file has {list(frame.columns)}", column=missing[0]
        )
    absent_optional = {c: pd.Series(None, index=frame.index, dtype=object) for c in contract.optional if c not in frame}
    return frame.assign(**absent_optional, **{PARTITION_COLUMN: _partition_dates(file, frame[PARTITION_COLUMN])})


def _numeric_columns(contract: TableContract, header: list[str]) -> set[str]:
    if contract.open_numeric:
        return {c for c in header if c not in contract.required}
    return set(contract.numeric_columns)


def _read_csv(file: Path, contract: TableContract) -> pd.DataFrame:
    data = file.read_bytes()
    if not data.strip():
        raise SourceDataError(
            file, f"the file is empty; the first line must name the columns {list(contract.required)}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = _locate_byte(data, error.start)
        raise SourceDataError(
            file, f"byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8", column=column, line=line
        ) from None
    header = next((row for row in csv.reader(io.StringIO(text)) if row), [])
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise SourceDataError(file, "the column appears more than once in the header", column=repeated[0], line=1)
    numeric = _numeric_columns(contract, header)
    na_values = {c: (NUMERIC_NA_TOKENS if c in numeric else [""]) for c in header}
    try:
        # pandas' C parser ends a field at a NUL byte ("67\x0034" would read as 67); the Python
        # parser keeps it, and cleaning quarantines the row.
        engine = "python" if "\x00" in text else "c"
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=na_values, engine=engine)
    except pd.errors.ParserError as error:
        # pandas says e.g. "Error tokenizing data. C error: Expected 7 fields in line 5, saw 9".
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found is None:
            raise SourceDataError(file, f"not a readable CSV file ({error})") from None
        expected, line_number, saw = found.groups()
        raise SourceDataError(
            file,
            f"{saw} fields where the header has {expected}; quote values that contain commas",
            line=int(line_number),
        ) from None


def _locate_byte(data: bytes, position: int) -> tuple[int, str | None]:
    """Line (from 1) and column name of the byte at `position` of a CSV file."""
    line_start = data.rfind(b"\n", 0, position) + 1
    line = data.count(b"\n", 0, position) + 1
    header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", errors="replace")]), [])
    fields_before = next(csv.reader([data[line_start:position].decode("utf-8", errors="replace")]), [])
    index = max(len(fields_before) - 1, 0)
    return line, (header[index].lstrip("\ufeff") if index < len(header) else None)


def _read_parquet(file: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as error:
        raise SourceDataError(file, f"not a readable Parquet file ({error})") from None
    for field in table.schema:
        if pa.types.is_nested(field.type):
            raise SourceDataError(
                file, f"holds {field.type} values; expected one number, text or date per row", column=field.name
            )
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise SourceDataError(file, "holds raw bytes; store text as UTF-8 strings", column=field.name)
    return table.to_pandas()


def _partition_dates(file: Path, values: pd.Series) -> pd.Series:
    """The `date` column as naive midnight days; any row without an ISO 8601 day is an error,
    since a row without a partition cannot even be quarantined."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        parsed = stamps.dt.tz_convert("UTC") if stamps.dt.tz is not None else stamps.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(values) and len(values):
        raise SourceDataError(
            file, f"holds {values.dtype} numbers; expected ISO 8601 days (YYYY-MM-DD)", column=PARTITION_COLUMN
        )
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(bad.nonzero()[0][0])
        value = values.iloc[position]
        problem = "the value is empty" if pd.isna(value) else f"{value!r} is not an ISO 8601 day (YYYY-MM-DD)"
        more = int(bad.sum()) - 1
        location = {"line": position + 2} if file.suffix.lower() == ".csv" else {"row": position + 1}
        raise SourceDataError(
            file,
            f"{problem}{f' (and {more} more rows)' if more else ''}; every row needs the business day it became usable",
            column=PARTITION_COLUMN,
            **location,
        )
    return parsed.dt.tz_localize(None).dt.normalize()
