"""A sub-graph of the project's own assets as a job the Dagster CLI loads (`-f this file -a ingest_job`).

Raw -> cleaned -> embedding for prices and news, without the asset checks (whose inputs, such as
the quarantine, span every raw table): enough to put several writers on the same tables, the
same text-embedding cache and the same Dagster instance at once.
"""

import dagster as dg

from mmrisk_dagster.definitions import defs

INGEST_ASSETS = ("raw_prices", "prices", "price_sequence_embedding", "raw_news", "news", "news_embedding")


def ingest_job() -> dg.JobDefinition:
    job = dg.define_asset_job("ingest", selection=dg.AssetSelection.assets(*INGEST_ASSETS).without_checks())
    return dg.Definitions(assets=defs.assets, resources=defs.resources, jobs=[job]).resolve_job_def("ingest")


CLEANING_ASSETS = ("raw_prices", "prices", "prices_rejected")


def cleaning_job() -> dg.JobDefinition:
    """Raw and cleaned prices with their checks (expectations, rows_conserved)."""
    job = dg.define_asset_job("cleaning", selection=dg.AssetSelection.assets(*CLEANING_ASSETS))
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources,
                          jobs=[job]).resolve_job_def("cleaning")
