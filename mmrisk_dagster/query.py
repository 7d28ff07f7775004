"""SQL over the warehouse's tables (DuckDB views over the Parquet partitions), for analysts:

python -m mmrisk_dagster.query "select source, reason, count(*) from quarantine group by all"

Reads `$MMRISK_HOME/warehouse` (default `./.mmrisk`); the views are refreshed first, so tables a
run has just written are there. Needs no DuckDB command-line tool.
"""

from __future__ import annotations

import argparse

from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sql", help="one DuckDB SQL statement; each table is a view of the same name")
    args = parser.parse_args()
    store = ParquetWarehouse(Settings.from_env().home / "warehouse")
    store.refresh_views()
    print(store.query(args.sql).to_string(index=False))


if __name__ == "__main__":
    main()
