"""The warehouse: one Parquet file per table partition, queried through DuckDB.

Why Parquet files and not DuckDB tables: DuckDB allows one writing process per database file,
so a multiprocess backfill writing several partitions at once fails on the file lock. Here each
partition is its own file, written to a temporary name and renamed into place: writers never
share a file, a re-run replaces exactly its partitions, and a crash mid-write leaves the
previous version visible. DuckDB stays the query engine: `catalog.duckdb` holds one view per
table over its files, for analysts (`duckdb .mmrisk/warehouse/catalog.duckdb`) and for the demo;
runs add the view of each new table and recreate the catalog when it is missing.

Failures say which file and what to do (`WarehouseError`): an unreadable partition, a damaged
catalog, a home that is read-only or full.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from filelock import FileLock

from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption
from mmrisk_dagster.sources.contract import PARTITION_COLUMN

UNPARTITIONED_FILE = "data.parquet"
# Tables that hold people's data (posts with their authors, rejected rows): written with Parquet
# modular encryption when a key is configured (parquet_encryption.py).
PEOPLE_TABLES = frozenset({"raw_social", "social", "social_rejected", "quarantine"})


class WarehouseError(RuntimeError):
    """A warehouse file cannot be read or written; the message names the file and the fix."""


def write_error(path: Path, error: OSError) -> WarehouseError:
    if error.errno == errno.ENOSPC:
        fix = "free space on that disk (or set MMRISK_HOME to a larger one), then re-run"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make the data home writable by this user (or set MMRISK_HOME to a writable folder), then re-run"
    else:
        fix = "check the data home's disk, then re-run"
    return WarehouseError(f"cannot write {path}: {error.strerror or error}; {fix}")


def _temporary_name(path: Path) -> Path:
    # The writer's pid is in the name, so that a later writer can tell a killed writer's leftover.
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphan_temporaries(directory: Path) -> list[Path]:
    """Delete temporary files left by writers that were killed (their process is gone)."""
    removed = []
    for tmp in directory.glob(".*.tmp") if directory.exists() else []:
        parts = tmp.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is None or not _pid_alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _atomic_write_all(writes: list[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every file under a temporary name, then rename them all into place: a crash while
    writing leaves every previous version, and the renames (each atomic) follow one another
    with no work in between. Temporary files are removed whatever happens, short of SIGKILL,
    whose leftovers the next writer of the table removes."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in writes:
            tmp = _temporary_name(path)
            staged.append((tmp, path))
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as error:
        raise write_error(path, error) from error
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    _atomic_write_all([(path, write)])


def _read_parquet(path: Path, columns: Sequence[str] | None, decryption=None) -> pa.Table:
    # One file, read directly: `pq.read_table` sets up a dataset per call, which took two thirds of
    # the time of reading a two-year table of small daily files.
    try:
        with pq.ParquetFile(path, decryption_properties=decryption) as parquet:
            return parquet.read(columns=columns)
    except InvalidTag as error:
        raise WarehouseError(
            f"{path} is encrypted with another key; set MMRISK_PARQUET_KEY to the key it was written with"
        ) from error
    except (pa.ArrowException, OSError) as error:
        if "encrypted" in str(error):
            raise WarehouseError(
                f"{path} is encrypted; set MMRISK_PARQUET_KEY to the key it was written with"
            ) from error
        raise WarehouseError(
            f"{path} is not a readable Parquet file ({error}); delete it and re-materialize that "
            "partition (and the assets after it)"
        ) from error


class ParquetWarehouse:
    """Partitioned tables under `root`: `<table>/<partition_key>.parquet` or `<table>/data.parquet`."""

    def __init__(
        self,
        root: str | Path,
        encryption: ParquetEncryption | None = None,
        encrypted_tables: Iterable[str] = PEOPLE_TABLES,
    ):
        self.root = Path(root)
        self.encryption = encryption
        self.encrypted_tables = frozenset(encrypted_tables) if encryption else frozenset()

    def _encryption_properties(self, table: str):
        return self.encryption.write_properties() if self.encryption and table in self.encrypted_tables else None

    def _decryption_properties(self, table: str):
        return self.encryption.read_properties() if self.encryption and table in self.encrypted_tables else None

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def partition_path(self, table: str, partition_key: str | None) -> Path:
        name = UNPARTITIONED_FILE if partition_key is None else f"{partition_key}.parquet"
        return self.table_dir(table) / name

    # -- DataFrames ---------------------------------------------------------------------------
    def write(self, table: str, frame: pd.DataFrame, partition_keys: Sequence[str] | None = None) -> list[Path]:
        """Write `frame`; with partition keys, replace exactly those partitions (empty ones too)."""
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        remove_orphan_temporaries(self.table_dir(table))
        encryption = self._encryption_properties(table)
        if partition_keys is None:
            path = self.partition_path(table, None)
            _atomic_write(
                path, lambda tmp: pq.write_table(arrow, tmp, compression="zstd", encryption_properties=encryption)
            )
            return [path]
        keys = pd.to_datetime(frame[PARTITION_COLUMN]).dt.strftime("%Y-%m-%d")
        groups = {k: idx for k, idx in frame.groupby(keys.to_numpy()).indices.items()}
        unexpected = set(groups) - set(partition_keys)
        if unexpected:
            raise ValueError(
                f"{table}: rows dated {sorted(unexpected)[:5]} fall outside the partitions being "
                f"written ({partition_keys[0]}..{partition_keys[-1]})"
            )
        writes: list[tuple[Path, Callable[[Path], object]]] = []
        for key in partition_keys:
            part = arrow.take(groups[key]) if key in groups else arrow.slice(0, 0)
            writes.append(
                (
                    self.partition_path(table, key),
                    functools.partial(pq.write_table, part, compression="zstd", encryption_properties=encryption),
                )
            )
        _atomic_write_all(writes)
        return [path for path, _ in writes]

    def existing_partitions(self, table: str) -> list[str]:
        directory = self.table_dir(table)
        if not directory.exists():
            return []
        return sorted(p.stem for p in directory.glob("*.parquet") if p.name != UNPARTITIONED_FILE)

    def read(
        self, table: str, partition_keys: Iterable[str] | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Read partitions (all of them when None), optionally only some columns; missing
        partitions read as empty."""
        if partition_keys is None:
            single = self.partition_path(table, None)
            if single.exists():
                return _read_parquet(single, columns, self._decryption_properties(table)).to_pandas()
            partition_keys = self.existing_partitions(table)
        paths = [self.partition_path(table, k) for k in partition_keys]
        decryption = self._decryption_properties(table)
        tables = [_read_parquet(p, columns, decryption) for p in paths if p.exists()]
        if not tables:
            raise FileNotFoundError(f"table '{table}' has no materialized partitions under {self.table_dir(table)}")
        non_empty = [t for t in tables if t.num_rows] or tables[:1]
        merged = pa.concat_tables(non_empty, promote_options="permissive")
        return merged.to_pandas()

    # -- JSON documents (model cards, evaluation reports) --------------------------------------
    def document_path(self, table: str) -> Path:
        return self.table_dir(table) / "document.json"

    def has_document(self, table: str) -> bool:
        return self.document_path(table).exists()

    def write_json(self, table: str, document: dict) -> Path:
        path = self.document_path(table)
        _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(document, indent=2, default=str)))
        return path

    def read_json(self, table: str) -> dict:
        path = self.document_path(table)
        if not path.exists():
            raise FileNotFoundError(f"'{table}' has not been materialized ({path} is missing)")
        return json.loads(path.read_text())

    # -- DuckDB ---------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def refresh_views(self, tables: Iterable[str] | None = None) -> list[str]:
        """(Re)create one DuckDB view per Parquet table (encrypted tables aside: DuckDB cannot
        read them); serialized across processes by a lock."""
        names = (
            sorted(tables)
            if tables is not None
            else sorted(p.name for p in self.root.glob("*") if p.is_dir() and any(p.glob("*.parquet")))
        )
        names = [n for n in names if n not in self.encrypted_tables]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.catalog_path) + ".lock", timeout=60), self._connect(read_only=False) as con:
                for name in names:
                    pattern = str(self.table_dir(name) / "*.parquet")
                    con.execute(
                        f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM '
                        f"read_parquet('{pattern}', union_by_name = true)"
                    )
        except OSError as error:
            raise write_error(self.catalog_path, error) from error
        return names

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.catalog_path), read_only=read_only)
        except duckdb.IOException as error:
            if "Permission denied" in str(error) or "Read-only" in str(error):
                raise write_error(self.catalog_path, PermissionError(errno.EACCES, "permission denied")) from error
            raise WarehouseError(
                f"{self.catalog_path} is not a usable DuckDB catalog ({error}); delete it: the next run "
                "recreates it (it holds only views over the Parquet files, no data)"
            ) from error
        except duckdb.Error as error:
            raise WarehouseError(
                f"{self.catalog_path} is not a usable DuckDB catalog ({error}); delete it: the next run "
                "recreates it (it holds only views over the Parquet files, no data)"
            ) from error

    def ensure_view(self, table: str, new_table: bool) -> None:
        """Keep the catalog current at little cost: recreate it when missing, add a new table's view."""
        if not self.catalog_path.exists():
            self.refresh_views()
        elif new_table:
            self.refresh_views([table])

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL against the views in a read-only connection."""
        with FileLock(str(self.catalog_path) + ".lock", timeout=60), self._connect(read_only=True) as con:
            return con.execute(sql).df()
