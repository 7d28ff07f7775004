"""Dagster resources: storage, data source, text encoding and the training window (MLflow:
`resources/tracking.py`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import torch
from pydantic import Field

from mmrisk_dagster.ml.splits import SplitSpec
from mmrisk_dagster.ml.text import EmbeddingCache, TextEncoder, make_encoder
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
