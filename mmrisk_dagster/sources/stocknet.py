"""The `stocknet` source: the StockNet dataset (Xu & Cohen, ACL 2018) in its native layout.

Reads the dataset folder or its `.tar.gz` directly (the archive is streamed member by member,
never unpacked to disk):

* `price/raw/<TICKER>.csv` (Date,Open,High,Low,Close,Adj Close,Volume) -> `prices`, adjusted:
  open, high, low and close are scaled by `Adj Close / Close` so that returns are total
  returns, as the paper's movement labels are computed from the adjusted close;
* `tweet/preprocessed/<TICKER>/<YYYY-MM-DD>` (JSON lines: `text` token list, `created_at`,
  `user_id_str`) -> `social`. The raw author id is kept here: cleaning pseudonymizes it with a
  keyed hash before it leaves the cleaned `social` table. The preprocessed files carry no tweet
  id, so `post_id` is `<TICKER>-<file day>-<line>`;
* `StockTable` (sector, `$TICKER`, company) -> `stocknet_entities`, the entity attributes.

StockNet has no fundamentals, news or credit events: those tables read as empty.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pandas as pd

from mmrisk_dagster.sources.calendar import usable_date
from mmrisk_dagster.sources.contract import PARTITION_COLUMN, empty_table
from mmrisk_dagster.sources.files import SourceDataError

ROOT_NAME = "stocknet-dataset"


@dataclass(frozen=True)
class StockNetData:
    prices: pd.DataFrame
    social: pd.DataFrame
    entities: pd.DataFrame


def _members(path: Path) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(path relative to the dataset root, content) of every wanted file, folder or archive."""

    def wanted(parts: tuple[str, ...]) -> bool:
        return parts == ("StockTable",) or parts[:2] in (("price", "raw"), ("tweet", "preprocessed"))

    if path.is_dir():
        root = path / ROOT_NAME if (path / ROOT_NAME).is_dir() else path
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = PurePosixPath(file.relative_to(root).as_posix())
            if wanted(relative.parts):
                yield relative, file.read_bytes()
        return
    try:
        # "r|gz": one forward pass over the compressed stream, no random access, no extraction.
        with tarfile.open(path, "r|gz") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                relative = PurePosixPath(*parts[1:]) if parts and parts[0] == ROOT_NAME else PurePosixPath(*parts)
                handle = archive.extractfile(member) if member.isfile() and wanted(relative.parts) else None
                if handle is not None:
                    yield relative, handle.read()
    except (tarfile.TarError, OSError) as error:
        raise SourceDataError(path, f"not a readable StockNet folder or .tar.gz archive ({error})") from None


def _prices(ticker: str, content: bytes) -> pd.DataFrame:
    raw = pd.read_csv(io.BytesIO(content))
    numbers = raw[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].apply(pd.to_numeric, errors="coerce")
    factor = numbers["Adj Close"] / numbers["Close"]
    return pd.DataFrame(
        {
            "entity_id": ticker,
            PARTITION_COLUMN: raw["Date"],
            "open": numbers["Open"] * factor,
            "high": numbers["High"] * factor,
            "low": numbers["Low"] * factor,
            "close": numbers["Adj Close"],
            "volume": numbers["Volume"],
        }
    )


def _tweets(ticker: str, day: str, content: bytes) -> list[dict]:
    rows = []
    for line_number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        tweet = json.loads(line)
        tokens = tweet.get("text") or []
        rows.append(
            {
                "post_id": f"{ticker}-{day}-{line_number}",
                "entity_id": ticker,
                "author_id": tweet.get("user_id_str"),
                "posted_at": tweet.get("created_at"),
                "text": " ".join(tokens) if isinstance(tokens, list) else str(tokens),
            }
        )
    return rows


@lru_cache(maxsize=2)
def _load(path: str, modified: float) -> StockNetData:
    prices, tweets, file_days, entities = [], [], [], None
    for relative, content in _members(Path(path)):
        if relative.parts == ("StockTable",):
            table = pd.read_csv(io.BytesIO(content), sep="\t")
            entities = pd.DataFrame(
                {
                    "entity_id": table["Symbol"].str.lstrip("$"),
                    "sector": table["Sector"].str.strip(),
                    "company": table["Company"].str.strip(),
                }
            )
        elif relative.parts[:2] == ("price", "raw") and relative.suffix == ".csv":
            prices.append(_prices(relative.stem, content))
        elif relative.parts[:2] == ("tweet", "preprocessed") and len(relative.parts) == 4:
            rows = _tweets(relative.parts[2], relative.parts[3], content)
            tweets += rows
            file_days += [relative.parts[3]] * len(rows)
    if not prices:
        raise SourceDataError(path, f"no price/raw/<TICKER>.csv files: not the {ROOT_NAME} layout")
    social = pd.DataFrame(tweets, columns=["post_id", "entity_id", "author_id", "posted_at", "text"])
    # An unparseable `created_at` stays as written (cleaning quarantines the row); its
    # partition is the day the file is named after.
    day_of_file = pd.Series(file_days, index=social.index, dtype=object)
    # "Thu Jan 02 15:45:02 +0000 2014" -> ISO 8601 with its offset, as the contract's raw text.
    posted = pd.to_datetime(social["posted_at"], format="%a %b %d %H:%M:%S %z %Y", utc=True, errors="coerce")
    social["posted_at"] = posted.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").where(posted.notna(), social["posted_at"])
    # A tweet counts from the business day it was posted on (weekends count for Monday).
    social[PARTITION_COLUMN] = usable_date(posted).fillna(pd.to_datetime(day_of_file, errors="coerce"))
    price_frame = pd.concat([p for p in prices if len(p)], ignore_index=True)
    price_frame[PARTITION_COLUMN] = pd.to_datetime(price_frame[PARTITION_COLUMN])
    if entities is None:
        entities = pd.DataFrame({"entity_id": price_frame["entity_id"].unique(), "sector": None, "company": None})
    return StockNetData(price_frame, social, entities)


def load_stocknet(path: str | Path) -> StockNetData:
    """The whole dataset, parsed once per file version (the raw assets read it table by table)."""
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise SourceDataError(path, "the StockNet folder or archive does not exist; set MMRISK_SOURCE_PATH")
    return _load(str(resolved), resolved.stat().st_mtime)


@lru_cache(maxsize=4)
def _last_price_date(path: str, modified: float) -> pd.Timestamp:
    lasts = []
    for relative, content in _members(Path(path)):
        if relative.parts[:2] == ("price", "raw") and relative.suffix == ".csv":
            try:
                dates = pd.read_csv(io.BytesIO(content), usecols=["Date"])["Date"]
            except (ValueError, pd.errors.ParserError) as error:
                raise SourceDataError(path, f"{relative}: no readable Date column ({error})") from None
            lasts.append(pd.to_datetime(dates, errors="coerce").max())
    known = [d for d in lasts if pd.notna(d)]
    if not known:
        raise SourceDataError(path, f"no dated price/raw/<TICKER>.csv files: not the {ROOT_NAME} layout")
    return max(known)


def last_price_date(path: str | Path) -> pd.Timestamp:
    """The archive's last trading day, from the price files alone (the tweets are not parsed):
    what the settings read to tell a dev cut of the archive from one with the test quarter."""
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise SourceDataError(path, "the StockNet folder or archive does not exist; set MMRISK_SOURCE_PATH")
    return _last_price_date(str(resolved), resolved.stat().st_mtime)


def read_stocknet_table(path: str | Path, table: str) -> pd.DataFrame:
    data = load_stocknet(path)
    if table == "prices":
        return data.prices.copy()
    if table == "social":
        return data.social.copy()
    return empty_table(table)
