"""A SQLite event log for Dagster that writes partition events in batches, one transaction per shard.

A storage plugin, kept apart from `mmrisk_dagster` because it is built on Dagster internals
(`SqliteEventLogStorage`, its private methods and schema): the project's own package uses public
Dagster APIs only. It is proven on the Dagster versions in
`mmrisk_dagster.instance.BATCHED_EVENT_LOG_PROVEN_ON`, by
`tests/integration/test_event_log_storage.py`, which runs one range on stock and batched storage
and compares everything the UI reads through the public instance API; on any other version
`mmrisk_dagster.instance` configures Dagster's stock storage instead (correct, only slower).

Why it exists: a range run over 500 daily partitions reports 500 materialization events per asset
and, for each partitioned check, 500 check evaluations (one per partition, so that the UI shows
each partition passed or failed). Dagster's stock SQLite event log opens a new engine and commits
two or three times per event, which costs ~20 ms each: minutes of bookkeeping for a two-year
backfill (docs/development.md).

* Materializations: Dagster hands partition events over in batches when
  `DAGSTER_EVENT_BATCH_SIZE` is set; each batch is written with one connection and one
  transaction per shard.
* Check evaluations of one partition each arrive one by one; they are held back and written
  together as soon as any other event of the process arrives (at the latest the check step's
  own success or failure event), so nothing reads them before the step has ended.
* Every connection, of any event or read: the stock storage creates a new engine and SQLite
  connection for each (~3 ms, mostly the WAL checkpoint SQLite runs when the last connection to
  a file closes); this one keeps an engine per shard for the few shards in use. A write to a run
  shard still ends with a WAL checkpoint, because the UI's live run view watches the run's `.db`
  file for changes, which a kept connection would otherwise only make every thousand pages.

Anything else goes through the stock per-event path.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as db
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData

# Engines kept open per process: the index and the runs being written or read (a webserver reads
# many runs; the least recently used engine is closed).
KEPT_SHARDS = 8


def _is_partition_check_evaluation(event: dg.EventLogEntry) -> bool:
    return (
        event.is_dagster_event
        and event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and bool(event.run_id)
        and event.get_dagster_event().event_specific_data.partition is not None
    )


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, *args, **kwargs):
        # Before the stock set-up, which already connects to the index.
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(*args, **kwargs)
        self._held_evaluations: list[dg.EventLogEntry] = []
        self._held_lock = threading.Lock()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event(self, event: dg.EventLogEntry) -> None:
        if _is_partition_check_evaluation(event):
            with self._held_lock:
                self._held_evaluations.append(event)
            return
        self.flush_check_evaluations()
        super().store_event(event)

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        self.flush_check_evaluations()
        plain_asset_batch = len({e.run_id for e in events}) == 1 and all(
            e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS and e.get_dagster_event().asset_key
            for e in events
        )
        if not plain_asset_batch:
            super().store_event_batch(events)
            return
        rows = self._insert_into_run_shard(events)
        with self.index_transaction() as conn:
            event_ids = self._insert_into_index(conn, rows)
            self._store_asset_event_tags(conn, events, event_ids)
            latest = {}
            for event, event_id in zip(events, event_ids):
                latest[event.get_dagster_event().asset_key] = (event, event_id)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)

    def dispose(self) -> None:
        self.flush_check_evaluations()
        super().dispose()
        with self._db_lock:
            self._close_engines()

    def wipe(self) -> None:
        # The stock wipe deletes the run shards' files; a kept connection would write on into them.
        with self._db_lock:
            self._close_engines()
        super().wipe()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        """The stock connection (one transaction, under the storage's lock), on a kept engine."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                sqlite = conn.connection.dbapi_connection
                changes_before = sqlite.total_changes
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME and sqlite.total_changes != changes_before:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _engine(self, shard: str) -> db.Engine:
        if self._engines_pid != os.getpid():
            # A forked child must not use (or close) the SQLite connections of its parent.
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.pop(shard, None) or db.create_engine(
            self.conn_string_for_shard(shard),
            # One kept connection; the stock schema set-up of a new shard briefly opens a second.
            pool_size=1,
            max_overflow=2,
            # Used from whichever thread holds the storage's lock, one at a time.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine
        while len(self._engines) > KEPT_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def _close_engines(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def flush_check_evaluations(self) -> None:
        """Write the held check evaluations: one transaction in the run shard, one in the index."""
        with self._held_lock:
            events, self._held_evaluations = self._held_evaluations, []
        by_run: dict[str, list[dg.EventLogEntry]] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(event)
        for run_events in by_run.values():
            rows = self._insert_into_run_shard(run_events)
            with self.index_transaction() as conn:
                event_ids = self._insert_into_index(conn, rows)
                self._record_check_executions(conn, run_events, rows, event_ids)

    def _insert_into_run_shard(self, events: Sequence[dg.EventLogEntry]) -> list[dict]:
        """Insert events of one run into its shard in one transaction; return their rows."""
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        return rows

    def _insert_into_index(self, index_conn, rows: list[dict]) -> list[int]:
        """Insert the rows into the index inside `index_conn`'s transaction; return their ids."""
        index_conn.execute(SqlEventLogStorageTable.insert(), rows)
        # Inside this write transaction SQLite hands out consecutive row ids, so the batch's ids
        # are the last len(rows) ones.
        newest = index_conn.execute(
            db.select(SqlEventLogStorageTable.c.id).order_by(SqlEventLogStorageTable.c.id.desc()).limit(len(rows))
        ).fetchall()
        return [row[0] for row in reversed(newest)]

    def _record_check_executions(
        self, conn, events: Sequence[dg.EventLogEntry], rows: list[dict], event_ids: list[int]
    ) -> None:
        """The stock evaluation update for each event (fill in the row its planned event created,
        or add one; a later evaluation of the same partition wins), as one UPDATE and one INSERT
        statement executed over many rows, on the caller's connection. The serialized event and
        its timestamp are the ones the event log row already holds."""
        table = AssetCheckExecutionsTable
        latest: dict[tuple, dict] = {}
        for event, row, event_id in zip(events, rows, event_ids):
            evaluation = event.get_dagster_event().event_specific_data
            target = evaluation.target_materialization_data
            identity = (evaluation.asset_key.to_string(), evaluation.check_name, event.run_id, evaluation.partition)
            latest[identity] = {
                "execution_status": (
                    AssetCheckExecutionRecordStatus.SUCCEEDED
                    if evaluation.passed
                    else AssetCheckExecutionRecordStatus.FAILED
                ).value,
                "evaluation_event": row["event"],
                "evaluation_event_timestamp": row["timestamp"],
                "evaluation_event_storage_id": event_id,
                "materialization_event_storage_id": target.storage_id if target else None,
            }
        planned: set[tuple] = set()
        for asset_key, check_name, run_id in {identity[:3] for identity in latest}:
            planned.update(
                (asset_key, check_name, run_id, partition)
                for (partition,) in conn.execute(
                    db.select(table.c.partition).where(
                        table.c.asset_key == asset_key, table.c.check_name == check_name, table.c.run_id == run_id
                    )
                )
            )
        identity_columns = ("asset_key", "check_name", "run_id", "partition")
        updates = [
            {
                **{f"key_{c}": v for c, v in zip(identity_columns, identity)},
                **{f"new_{c}": v for c, v in values.items()},
            }
            for identity, values in latest.items()
            if identity in planned
        ]
        inserts = [
            {**dict(zip(identity_columns, identity)), **values}
            for identity, values in latest.items()
            if identity not in planned
        ]
        if updates:
            conn.execute(
                table.update()
                .where(*(table.c[c] == db.bindparam(f"key_{c}") for c in identity_columns))
                .values({c: db.bindparam(f"new_{c}") for c in next(iter(latest.values()))}),
                updates,
            )
        if inserts:
            conn.execute(table.insert(), inserts)
