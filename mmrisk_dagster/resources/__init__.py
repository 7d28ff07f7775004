"""Dagster resources: storage, data source, text encoding, training window and MLflow."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import torch
from pydantic import Field

from mmrisk_dagster.ml.text import EmbeddingCache, TextEncoder, make_encoder
from mmrisk_dagster.ml.training import SplitSpec
from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources import read_source_table
from mmrisk_dagster.sources.pseudonyms import resolve_salt
from mmrisk_dagster.sources.synthetic import SyntheticConfig


class WarehouseResource(dg.ConfigurableResource):
    """Root folders of the Parquet warehouse (with its DuckDB catalog) and of model files."""

    root: str
    models_root: str
    # Key of the people tables' Parquet encryption: an unresolved dg.EnvVar("MMRISK_PARQUET_KEY").
    parquet_key: str | None = None

    def store(self) -> ParquetWarehouse:
        return ParquetWarehouse(self.root, ParquetEncryption(self.parquet_key) if self.parquet_key else None)

    def models_path(self) -> Path:
        return Path(self.models_root)


class DataSourceResource(dg.ConfigurableResource):
    """Where raw data comes from: `synthetic` (embedded default), `files` (a folder of
    CSV/Parquet files in the canonical contract), or a real dataset in its native format:
    `stocknet` (folder or .tar.gz), `phrasebank` (a `Sentences_*.txt` file) or `uci_credit`
    (the CSV). `path` names the folder, archive or file.

    `pseudonym_salt` is the secret key of the author pseudonyms: pass it as an unresolved
    `dg.EnvVar("MMRISK_PSEUDONYM_SALT")` so that the UI and run storage hold only the variable's
    name. Only the synthetic demo may run without it, on the random salt kept in
    `demo_salt_file`; any other source fails at run start saying what to set.
    """

    kind: str = "synthetic"
    path: str = ""
    synthetic_entities: int = 50
    synthetic_seed: int = 7
    synthetic_default_rate: float = Field(
        default=SyntheticConfig.annual_default_rate,
        description="Synthetic source only: defaults per slot-year (the demo sets 5.0 through MMRISK_SYNTHETIC_DEFAULT_RATE).",
    )
    start_date: str = "2024-01-01"
    end_date: str = "2025-12-31"
    pseudonym_salt: str | None = None
    demo_salt_file: str = ""
    entities: list[str] = Field(
        default=[], description="Read only these entity ids (e.g. a dozen tickers of StockNet); empty: all."
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.salt()  # a missing salt fails the run before any step reads data

    def salt(self) -> str:
        return resolve_salt(self.kind, self.pseudonym_salt, self.demo_salt_file)

    def read(self, table: str, start: date, end: date) -> pd.DataFrame:
        """Raw rows of a canonical table whose `date` lies in [start, end]."""
        frame = read_source_table(
            kind=self.kind,
            table=table,
            start=pd.Timestamp(start),
            end=pd.Timestamp(end),
            path=self.path,
            synthetic_entities=self.synthetic_entities,
            synthetic_seed=self.synthetic_seed,
            synthetic_default_rate=self.synthetic_default_rate,
            synthetic_start=self.start_date,
            synthetic_end=self.end_date,
        )
        return frame[frame["entity_id"].isin(self.entities)].reset_index(drop=True) if self.entities else frame


class ComputeResource(dg.ConfigurableResource):
    """CPU threads for torch and the text encoder (`minilm` or the `hashing` fallback)."""

    torch_threads: int = Field(default=2, description="CPU threads for torch and ONNX Runtime.")
    text_encoder: str = Field(default="minilm", description="`minilm` (all-MiniLM-L6-v2) or `hashing` (no model).")
    text_backend: str = Field(
        default="onnx",
        description="How MiniLM runs: `onnx` (ONNX Runtime, exported into `cache_dir` at first use), "
        "`onnx-int8` (the same graph with int8 weights: about twice as fast again, vectors slightly "
        "off the reference) or `torch` (sentence-transformers, the reference). benchmarks/embeddings.py "
        "measures each one's speed and cosine to the reference. Each backend has its own cache entries.",
    )
    text_batch_size: int = Field(default=128, description="Texts per forward pass of the encoder.")
    cache_dir: str = Field(description="Folder of the text-embedding cache and the exported ONNX model.")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        torch.set_num_threads(self.torch_threads)

    def encoder(self) -> TextEncoder:
        return make_encoder(
            self.text_encoder,
            self.text_batch_size,
            self.text_backend,
            Path(self.cache_dir) / "models",
            self.torch_threads,
        )

    def text_cache(self) -> EmbeddingCache:
        return EmbeddingCache(Path(self.cache_dir) / "text_embeddings.duckdb")


class TrainingWindowResource(dg.ConfigurableResource):
    """The chronological train / validation / gate / test split shared by every fitted asset,
    and the label horizon.

    Validation early-stops and calibrates the model; the gate split is read only by the model
    gate; test only reports. The embargo before each split boundary is at least the horizon,
    so that no label reaches into a later split.
    """

    train_fraction: float = Field(default=0.5, description="Share of the dates for training (when no split_dates).")
    validation_fraction: float = Field(
        default=0.15, description="Share of the dates that early-stops and calibrates the model (when no split_dates)."
    )
    gate_fraction: float = Field(
        default=0.15,
        description="Share of the dates only the model gate reads (when no split_dates); test takes the rest.",
    )
    split_dates: list[str] = Field(
        default=[],
        description="First day of validation, gate and test, optionally the day test ends (exclusive), as ISO "
        "dates; overrides the fractions. Default with MMRISK_SOURCE=stocknet: the published split.",
    )
    horizon_days: int = Field(
        default=20, description="Business days the default and forward-volatility labels look ahead."
    )
    embargo_days: int | None = Field(
        default=None,
        description="Business days dropped before each split boundary; at least horizon_days (default: equal to it).",
    )

    def split_spec(self) -> SplitSpec:
        embargo = self.horizon_days if self.embargo_days is None else self.embargo_days
        if embargo < self.horizon_days:
            raise ValueError(
                f"embargo_days={embargo} is shorter than horizon_days={self.horizon_days}: training labels would "
                "overlap later splits; shorten horizon_days instead (TrainingWindowResource)"
            )
        return SplitSpec(
            self.train_fraction, self.validation_fraction, self.gate_fraction, embargo, tuple(self.split_dates)
        )


LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"  # `make mlflow-ui`


CHAMPION, CHALLENGER = "champion", "challenger"


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking: a local SQLite store under the data home unless a URI is configured.

    With a tracking server (an http(s) URI) the server chooses where artifacts go (its own
    `--default-artifact-root` or artifact proxy); `artifact_root` is used only for a local store.
    Links in metadata start at `ui_url`, by default the server itself or, for a local store,
    `make mlflow-ui`'s address.
    """

    tracking_uri: str
    artifact_root: str = ""
    experiment: str = "mmrisk"
    registered_model: str = "mmrisk-multitask"
    ui_url: str = ""

    def _is_server(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    def link_base(self) -> str:
        if self.ui_url:
            return self.ui_url.rstrip("/")
        return self.tracking_uri.rstrip("/") if self._is_server() else LOCAL_MLFLOW_UI

    def _mlflow(self):
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.experiment)
        if experiment is None:
            location = None
            if not self._is_server():
                Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
                location = Path(self.artifact_root).resolve().as_uri()
            with contextlib.suppress(mlflow.exceptions.MlflowException):  # a concurrent run created it first
                mlflow.create_experiment(self.experiment, artifact_location=location)
        mlflow.set_experiment(self.experiment)
        return mlflow

    @staticmethod
    def _log_pictures(mlflow, figures: dict[str, bytes]) -> None:
        """Each PNG under plots/ in the active run, named after its title."""
        with tempfile.TemporaryDirectory() as folder:
            for title, png in figures.items():
                name = "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")
                (Path(folder) / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(folder, artifact_path="plots")

    def log_training(
        self,
        params: dict,
        histories: list[list[dict]],
        metrics: dict,
        card: dict,
        tags: dict,
        example: pd.DataFrame,
        output: pd.DataFrame,
        figures: dict[str, bytes],
    ) -> dict:
        """One run with params and per-epoch metrics per member; the ensemble logged as a pyfunc
        model (safetensors weights, a signature from `example` and the model's `output` on it,
        the input example), the training pictures; registered as a new version with the alias
        `challenger`."""
        from mlflow.models import infer_signature

        from mmrisk_dagster.ml import registry_model

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
            logged = mlflow.pyfunc.log_model(
                name="model",
                python_model=registry_model.entry_point(),
                artifacts={registry_model.MODEL_ARTIFACT: card["path"]},
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=registry_model.requirements(),
            )
            self._log_pictures(mlflow, figures)
            run_id = run.info.run_id
        version = mlflow.register_model(logged.model_uri, self.registered_model, tags=tags)
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(self.registered_model, CHALLENGER, version.version)
        experiment_id = mlflow.get_experiment_by_name(self.experiment).experiment_id
        return {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "registered_model": self.registered_model,
            "model_version": version.version,
            "model_uri": logged.model_uri,
            "run_url": f"{self.link_base()}/#/experiments/{experiment_id}/runs/{run_id}",
            "model_url": f"{self.link_base()}/#/models/{self.registered_model}/versions/{version.version}",
        }

    def record_gate(self, model_version: str, gate: dict) -> str | None:
        """The gate's verdict and margin as tags on the registered version; the alias `champion`
        moves to it when it passed, and leaves it when it failed. Returns the champion's version."""
        mlflow = self._mlflow()
        client = mlflow.MlflowClient()
        for key in (
            "passed",
            "margin",
            "margin_std_error",
            "margin_ci_low",
            "margin_ci_high",
            "best_baseline",
            "split",
        ):
            if key in gate:
                client.set_model_version_tag(self.registered_model, model_version, f"gate_{key}", str(gate[key]))
        champion = self._champion_version(client)
        if gate["passed"]:
            client.set_registered_model_alias(self.registered_model, CHAMPION, model_version)
            return model_version
        if champion == model_version:
            client.delete_registered_model_alias(self.registered_model, CHAMPION)
            return None
        return champion

    def _champion_version(self, client) -> str | None:
        import mlflow

        try:
            return client.get_model_version_by_alias(self.registered_model, CHAMPION).version
        except mlflow.exceptions.MlflowException:
            return None

    def load_champion(self):
        """The registered version with the alias `champion`, loaded as a pyfunc model."""
        mlflow = self._mlflow()
        client = mlflow.MlflowClient()
        version = self._champion_version(client)
        if version is None:
            raise LookupError(
                f"no version of registered model '{self.registered_model}' at {self.tracking_uri} has the alias "
                f"'{CHAMPION}': materialize model_evaluation with a model that passes its gate first"
            )
        return mlflow.pyfunc.load_model(self.champion_uri())

    def champion_uri(self) -> str:
        return f"models:/{self.registered_model}@{CHAMPION}"

    def log_evaluation(self, run_id: str, report: dict, metrics: dict, figures: dict[str, bytes]) -> None:
        mlflow = self._mlflow()
        with mlflow.start_run(run_id=run_id):
            mlflow.log_dict(report, "evaluation/model_evaluation.json")
            self._log_pictures(mlflow, figures)
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
