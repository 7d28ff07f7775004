"""Source adapters: each returns raw rows in the canonical contract (`sources.contract`)."""

from __future__ import annotations

import errno
from datetime import date

import pandas as pd

from mmrisk_dagster.sources.calendar import business_day_offset
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN, SOURCE_DATE_COLUMN
from mmrisk_dagster.sources.files import read_files_table
from mmrisk_dagster.sources.phrasebank import read_phrasebank_table
from mmrisk_dagster.sources.stocknet import read_stocknet_table
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe
from mmrisk_dagster.sources.uci_credit import read_uci_credit_table

# Real public datasets in their native formats; `path` names the folder, archive or file.
NATIVE_READERS = {
    "stocknet": read_stocknet_table,
    "phrasebank": read_phrasebank_table,
    "uci_credit": read_uci_credit_table,
}
SOURCE_KINDS = ("synthetic", "files", *NATIVE_READERS)
# I/O failures worth another try (a network share or object store hiccup); a bad file is not.
TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ESTALE, errno.ETIMEDOUT, errno.ECONNRESET}


def is_transient(error: BaseException) -> bool:
    return isinstance(error, ConnectionError | TimeoutError) or (
        isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS
    )


def read_source_table(
    kind: str,
    table: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    path: str = "",
    synthetic_entities: int = 50,
    synthetic_seed: int = 7,
    synthetic_default_rate: float = SyntheticConfig.annual_default_rate,
    synthetic_start: str = "2024-01-01",
    synthetic_end: str = "2025-12-31",
) -> pd.DataFrame:
    """Raw rows of `table` whose partition date lies in [start, end], with `source_date`."""
    if table not in CONTRACTS:
        raise ValueError(f"unknown table '{table}'; the contract defines {sorted(CONTRACTS)}")
    if kind == "synthetic":
        config = SyntheticConfig(
            n_entities=synthetic_entities,
            seed=synthetic_seed,
            annual_default_rate=synthetic_default_rate,
            start=date.fromisoformat(synthetic_start),
            end=date.fromisoformat(synthetic_end),
        )
        frame = cached_universe(config).table(table)
    elif kind == "files":
        frame = read_files_table(path, table)
    elif kind in NATIVE_READERS:
        frame = NATIVE_READERS[kind](path, table)
    else:
        raise ValueError(f"unknown source kind '{kind}'; choose one of {SOURCE_KINDS}")
    # A row dated on a weekend becomes usable on the next business day: that is its partition.
    # The day as written stays beside it, so that cleaning can tell moved rows from genuine ones.
    written = pd.to_datetime(frame[PARTITION_COLUMN]).dt.normalize()
    dates = pd.Series(business_day_offset(written, 0), index=frame.index)
    keep = (dates >= start) & (dates <= end)
    return (
        frame[keep]
        .assign(**{PARTITION_COLUMN: dates[keep], SOURCE_DATE_COLUMN: written[keep].to_numpy()})
        .reset_index(drop=True)
    )
