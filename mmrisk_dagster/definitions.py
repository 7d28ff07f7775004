"""The code location: assets, checks, resources, jobs, schedule and sensor, configured from the environment."""

from __future__ import annotations

import dagster as dg

from mmrisk_dagster.assets import all_assets
from mmrisk_dagster.automation import jobs, schedules, sensors
from mmrisk_dagster.catalog import describe
from mmrisk_dagster.checks import asset_checks
from mmrisk_dagster.executors import executor_from_env
from mmrisk_dagster.resources import (
    ComputeResource,
    DataSourceResource,
    MlflowResource,
    TrainingWindowResource,
    WarehouseResource,
)
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.settings import Settings


def build_resources(settings: Settings) -> dict:
    home = settings.home
    return {
        "io_manager": WarehouseIOManager(root=str(home / "warehouse")),
        "warehouse": WarehouseResource(root=str(home / "warehouse"), models_root=str(home / "models")),
        "data_source": DataSourceResource(
            kind=settings.source,
            path=settings.source_path,
            synthetic_entities=settings.synthetic_entities,
            synthetic_seed=settings.seed,
            start_date=settings.start_date.isoformat(),
            end_date=settings.end_date.isoformat(),
            pseudonym_salt=dg.EnvVar("MMRISK_PSEUDONYM_SALT").get_value("mmrisk-default-salt"),
        ),
        "compute": ComputeResource(cache_dir=str(home / "cache")),
        "training_window": TrainingWindowResource(),
        "mlflow": MlflowResource(
            tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI").get_value(f"sqlite:///{home / 'mlflow.db'}"),
            artifact_root=str(home / "mlartifacts"),
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
