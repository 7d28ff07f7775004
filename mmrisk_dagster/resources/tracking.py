"""The MLflow resource: runs, registered versions and the `champion` / `challenger` aliases."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

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
