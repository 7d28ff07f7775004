"""The code location: assets, checks, resources, jobs, schedule and sensor, configured from the environment."""

from __future__ import annotations

import os
from typing import overload

import dagster as dg

from mmrisk_dagster.assets import all_assets
from mmrisk_dagster.automation import jobs, schedules, sensors
from mmrisk_dagster.catalog import describe
from mmrisk_dagster.checks import asset_checks
from mmrisk_dagster.executors import executor_from_env
from mmrisk_dagster.resources import (
    ComputeResource,
    DataSourceResource,
    TrainingWindowResource,
    WarehouseResource,
)
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.resources.tracking import MlflowResource
from mmrisk_dagster.settings import Settings
from mmrisk_dagster.sources.pseudonyms import SALT_VARIABLE

PARQUET_KEY_VARIABLE = "MMRISK_PARQUET_KEY"  # encrypts the people tables at rest when set


@overload
def _secret(variable: str) -> dg.EnvVar | None: ...
@overload
def _secret(variable: str, fallback: str) -> dg.EnvVar | str: ...
def _secret(variable: str, fallback: str | None = None) -> dg.EnvVar | str | None:
    """An unresolved `dg.EnvVar` when the variable is set (the UI and run storage then hold only
    its name; the value is read in the run), else the non-secret fallback."""
    return dg.EnvVar(variable) if os.environ.get(variable) else fallback


def build_resources(settings: Settings) -> dict:
    home = settings.home
    return {
        "io_manager": WarehouseIOManager(root=str(home / "warehouse"), parquet_key=_secret(PARQUET_KEY_VARIABLE)),
        "warehouse": WarehouseResource(
            root=str(home / "warehouse"), models_root=str(home / "models"), parquet_key=_secret(PARQUET_KEY_VARIABLE)
        ),
        "data_source": DataSourceResource(
            kind=settings.source,
            path=settings.source_path,
            synthetic_entities=settings.synthetic_entities,
            synthetic_default_rate=settings.synthetic_default_rate,
            synthetic_seed=settings.seed,
            start_date=settings.start_date.isoformat(),
            end_date=settings.end_date.isoformat(),
            pseudonym_salt=_secret(SALT_VARIABLE),
            demo_salt_file=str(home / "secrets" / "pseudonym_salt"),
            entities=list(settings.entities),
        ),
        "compute": ComputeResource(
            cache_dir=str(home / "cache"), text_encoder=settings.text_encoder, text_backend=settings.text_backend
        ),
        "training_window": TrainingWindowResource(
            split_dates=list(settings.split_dates), horizon_days=settings.horizon_days
        ),
        "mlflow": MlflowResource(
            # A server URI may carry credentials: it stays an unresolved EnvVar too.
            tracking_uri=_secret("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
            artifact_root=str(home / "mlartifacts"),
            ui_url=os.environ.get("MMRISK_MLFLOW_UI_URL", ""),
        ),
    }


defs = dg.Definitions(
    assets=dg.with_source_code_references([asset.map_asset_specs(describe) for asset in all_assets]),
    asset_checks=asset_checks,
    resources=build_resources(Settings.from_env()),
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    executor=executor_from_env(),
)
