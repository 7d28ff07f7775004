"""Cross-modal similarity search over the materialized `shared_embeddings`, for analysts.

python -m mmrisk_dagster.search E0012 2025-06-30 --query news --against prices --top 10
"""

from __future__ import annotations

import argparse

from mmrisk_dagster.ml.shared_space import similar_entity_dates
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entity_id")
    parser.add_argument("date")
    parser.add_argument("--query", default="fused", help="modality of the given entity-date, or fused")
    parser.add_argument("--against", default="fused", help="modality to search, or fused")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    frame = ParquetWarehouse(Settings.from_env().home / "warehouse").read("shared_embeddings")
    print(
        similar_entity_dates(frame, args.entity_id, args.date, args.query, args.against, args.top).to_string(
            index=False
        )
    )


if __name__ == "__main__":
    main()
