"""IO manager storing asset outputs in the Parquet warehouse.

DataFrames become Parquet (one file per partition for partitioned assets, replaced atomically);
dicts become JSON documents (model cards, evaluation reports). Loading a partitioned input reads
exactly the partitions Dagster maps to it, so a lookback window costs its own size, not history.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption
from mmrisk_dagster.resources.warehouse import ParquetWarehouse


def _table_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def _column_schema(frame: pd.DataFrame, declared: dg.TableSchema | None) -> dg.TableSchema:
    """The columns written, with their types, and the descriptions the catalog declares for them."""
    descriptions = {c.name: c.description for c in declared.columns} if declared else {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(c), type=str(t), description=descriptions.get(str(c)))
            for c, t in frame.dtypes.items()
        ]
    )


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
            # A partitioned asset records each partition's own row count (partitions.py): this
            # metadata lands on every partition of a range run alike.
            context.add_output_metadata(
                {
                    **({} if keys else {"dagster/row_count": len(obj)}),
                    "dagster/column_schema": _column_schema(
                        obj, context.definition_metadata.get("dagster/column_schema")
                    ),
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
