"""Dagster resources: storage, data source, text encoding, training window and MLflow."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import torch
from pydantic import Field

from mmrisk_dagster.ml.text import EmbeddingCache, TextEncoder, make_encoder
from mmrisk_dagster.ml.training import SplitSpec
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources import read_source_table


class WarehouseResource(dg.ConfigurableResource):
    """Root folders of the Parquet warehouse (with its DuckDB catalog) and of model files."""

    root: str
    models_root: str

    def store(self) -> ParquetWarehouse:
        return ParquetWarehouse(self.root)

    def models_path(self) -> Path:
        return Path(self.models_root)


class DataSourceResource(dg.ConfigurableResource):
    """Where raw data comes from: `synthetic` (embedded default), `files` (a folder of
    CSV/Parquet files in the canonical contract), or a real dataset in its native format:
    `stocknet` (folder or .tar.gz), `phrasebank` (a `Sentences_*.txt` file) or `uci_credit`
    (the CSV). `path` names the folder, archive or file."""

    kind: str = "synthetic"
    path: str = ""
    synthetic_entities: int = 50
    synthetic_seed: int = 7
    start_date: str = "2024-01-01"
    end_date: str = "2025-12-31"
    pseudonym_salt: str = "mmrisk-default-salt"

    def read(self, table: str, start: date, end: date) -> pd.DataFrame:
        """Raw rows of a canonical table whose `date` lies in [start, end]."""
        return read_source_table(
            kind=self.kind,
            table=table,
            start=pd.Timestamp(start),
            end=pd.Timestamp(end),
            path=self.path,
            synthetic_entities=self.synthetic_entities,
            synthetic_seed=self.synthetic_seed,
            synthetic_start=self.start_date,
            synthetic_end=self.end_date,
        )


class ComputeResource(dg.ConfigurableResource):
    """CPU threads for torch and the text encoder (`minilm` or the `hashing` fallback)."""

    torch_threads: int = Field(default=2, description="CPU threads for torch and ONNX Runtime.")
    text_encoder: str = Field(default="minilm", description="`minilm` (all-MiniLM-L6-v2) or `hashing` (no model).")
    text_backend: str = Field(
        default="torch",
        description="How MiniLM runs: `torch` (sentence-transformers, the reference) or `onnx` (ONNX "
        "Runtime, exported into `cache_dir` at first use; benchmarks/embeddings.py measures its speed-up "
        "and cosine to the reference). Each backend has its own cache entries.",
    )
    text_batch_size: int = Field(default=128, description="Texts per forward pass of the encoder.")
    cache_dir: str = Field(description="Folder of the text-embedding cache and the exported ONNX model.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        torch.set_num_threads(self.torch_threads)

    def encoder(self) -> TextEncoder:
        return make_encoder(
            self.text_encoder, self.text_batch_size, self.text_backend, Path(self.cache_dir) / "models", self.torch_threads
        )

    def text_cache(self) -> EmbeddingCache:
        return EmbeddingCache(Path(self.cache_dir) / "text_embeddings.duckdb")


class TrainingWindowResource(dg.ConfigurableResource):
    """The chronological split shared by every fitted asset, and the label horizon.

    The embargo equals the label horizon so that no training label overlaps a later split.
    """

    train_fraction: float = 0.5
    validation_fraction: float = 0.2
    horizon_days: int = 20

    def split_spec(self) -> SplitSpec:
        return SplitSpec(self.train_fraction, self.validation_fraction, self.horizon_days)


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking: a local SQLite store under the data home unless a URI is configured."""

    tracking_uri: str
    artifact_root: str
    experiment: str = "mmrisk"
    registered_model: str = "mmrisk-multitask"
    ui_url: str = "http://127.0.0.1:5000"

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.experiment)
        if experiment is None:
            Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
            mlflow.create_experiment(self.experiment, artifact_location=Path(self.artifact_root).resolve().as_uri())
        mlflow.set_experiment(self.experiment)
        return mlflow

    def log_training(self, params: dict, histories: list[list[dict]], metrics: dict, model_dir: str, tags: dict) -> dict:
        """One run with params, per-epoch metrics per member, the weights; registers a version."""
        mlflow = self._mlflow()
        with mlflow.start_run(run_name=f"multitask-{tags.get('model_version', '')}") as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            for member, history in enumerate(histories):
                for record in history:
                    step = int(record["epoch"])
                    mlflow.log_metric(f"member{member}_train_loss", record["train_loss"], step=step)
                    mlflow.log_metric(f"member{member}_validation_score", record["validation_score"], step=step)
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
            mlflow.set_tags(tags)
            mlflow.log_artifacts(model_dir, artifact_path="model")
            run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        client = mlflow.MlflowClient()
        try:
            client.create_registered_model(self.registered_model)
        except mlflow.exceptions.MlflowException:
            pass  # already registered
        version = client.create_model_version(
            self.registered_model, source=f"{artifact_uri}/model", run_id=run_id, tags=tags
        )
        experiment_id = mlflow.get_experiment_by_name(self.experiment).experiment_id
        return {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "registered_model": self.registered_model,
            "model_version": version.version,
            "run_url": f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}",
            "model_url": f"{self.ui_url}/#/models/{self.registered_model}/versions/{version.version}",
        }

    def log_evaluation(self, run_id: str, report: dict, metrics: dict) -> None:
        mlflow = self._mlflow()
        with mlflow.start_run(run_id=run_id):
            mlflow.log_dict(report, "evaluation/model_evaluation.json")
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
