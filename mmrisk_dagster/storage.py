"""A SQLite event log that writes a batch of partition materializations in one transaction.

A range run over 500 daily partitions reports 500 materialization events per asset. Dagster's
stock SQLite event log opens a new engine and commits twice per event, which costs ~20 ms each:
minutes of bookkeeping for a two-year backfill. Dagster hands partition events over in batches
when `DAGSTER_EVENT_BATCH_SIZE` is set; this storage writes each batch with one connection and
one transaction per shard. Anything that is not a plain batch of asset events from one run goes
through the stock per-event path. Configured in `$DAGSTER_HOME/dagster.yaml` (`instance.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as db
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        plain_asset_batch = len({e.run_id for e in events}) == 1 and all(
            e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS and e.get_dagster_event().asset_key
            for e in events
        )
        if not plain_asset_batch:
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
            # Inside this write transaction SQLite hands out consecutive row ids, so the batch's
            # ids are the last len(rows) ones.
            newest = conn.execute(
                db.select(SqlEventLogStorageTable.c.id).order_by(SqlEventLogStorageTable.c.id.desc()).limit(len(rows))
            ).fetchall()
            event_ids = [row[0] for row in reversed(newest)]
            self._store_asset_event_tags(conn, events, event_ids)
            latest = {}
            for event, event_id in zip(events, event_ids):
                latest[event.get_dagster_event().asset_key] = (event, event_id)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)
