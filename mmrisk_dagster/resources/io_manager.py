"""IO manager storing asset outputs in the Parquet warehouse.

DataFrames become Parquet (one file per partition for partitioned assets, replaced atomically);
dicts become JSON documents (model cards, evaluation reports). Loading a partitioned input reads
exactly the partitions Dagster maps to it, so a lookback window costs its own size, not history.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from mmrisk_dagster.catalog import written_schema
from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption
from mmrisk_dagster.resources.warehouse import ParquetWarehouse


def _table_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


class WarehouseIOManager(dg.ConfigurableIOManager):
    root: str
    # Key of the people tables' Parquet encryption: an unresolved dg.EnvVar("MMRISK_PARQUET_KEY").
    parquet_key: str | None = None

    def _store(self) -> ParquetWarehouse:
        return ParquetWarehouse(self.root, ParquetEncryption(self.parquet_key) if self.parquet_key else None)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        table = _table_name(context.asset_key)
        store = self._store()
        if isinstance(obj, pd.DataFrame):
            keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
            new_table = not store.table_dir(table).exists()
            paths = store.write(table, obj, keys)
            store.ensure_view(table, new_table)
            # This metadata lands on every partition of a range run alike: a partitioned asset
            # records its row counts per partition and its columns once per run (partitions.py).
            unpartitioned: dict[str, Any] = (
                {}
                if keys
                else {
                    "dagster/row_count": len(obj),
                    "dagster/column_schema": written_schema(
                        obj, context.definition_metadata.get("dagster/column_schema")
                    ),
                }
            )
            context.add_output_metadata(
                {
                    **unpartitioned,
                    "path": dg.MetadataValue.path(str(paths[0].parent)),
                    "partitions_written_by_run": len(paths),
                }
            )
        elif isinstance(obj, dict):
            path = store.write_json(table, obj)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
        else:
            raise TypeError(f"{table}: cannot store a {type(obj).__name__}; return a DataFrame or dict")

    def load_input(self, context: dg.InputContext):
        table = _table_name(context.asset_key)
        store = self._store()
        if store.has_document(table):
            return store.read_json(table)
        if context.has_asset_partitions:
            return store.read(table, list(context.asset_partition_keys))
        return store.read(table)
