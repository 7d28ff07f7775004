"""The MLflow resource against a real tracking server on 127.0.0.1: artifacts go where the
server puts them (not a local `file://` path of this process), and links point at the server."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mmrisk_dagster.resources.tracking import MlflowResource


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{home / 'server.db'}",
         "--artifacts-destination", str(home / "server_artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("mlflow server exited: " + server.stderr.read().decode(errors="replace")[-2000:])
                time.sleep(1)
        else:
            raise RuntimeError("mlflow server did not answer /health within 120 s")
        yield {"url": url, "home": home}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_runs_land_on_the_server_with_its_artifact_store_and_links(mlflow_server, tmp_path):
    import torch

    from mmrisk_dagster.ml.artifacts import save_multitask
    from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel
    from mmrisk_dagster.ml.registry_model import input_example, score_panel
    from tests.unit.test_registry import DIMS, NORMAL_VAR, _panel

    torch.manual_seed(0)
    config = FusionConfig(d=16, hidden=16)
    models = [MultitaskFusionModel(DIMS, config).eval()]
    extra = {"calibrator": {"method": "platt", "a": 1.0, "b": 0.0}, "vol_mean": -4.0, "vol_std": 0.5, "var_multipliers": NORMAL_VAR}
    card = save_multitask(tmp_path / "models", models, config, extra)
    example = input_example(_panel())
    local_root = tmp_path / "must_stay_empty"
    resource = MlflowResource(tracking_uri=mlflow_server["url"], artifact_root=str(local_root), experiment="server-test")
    history = [[{"epoch": 0, "train_loss": 1.0, "validation_score": 0.5}]]
    logged = resource.log_training(
        {"epochs": 1}, history, {"auc": 0.6}, card, {"model_version": card["version"]},
        example, score_panel(models, card, example), {},
    )
    assert logged["run_url"].startswith(mlflow_server["url"] + "/#/experiments/")
    assert logged["model_url"] == f"{mlflow_server['url']}/#/models/mmrisk-multitask/versions/1"
    import mlflow

    mlflow.set_tracking_uri(mlflow_server["url"])
    experiment = mlflow.get_experiment_by_name("server-test")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    assert not local_root.exists()
    stored = list((mlflow_server["home"] / "server_artifacts").rglob("weights.safetensors"))
    assert len(stored) == 1
    assert mlflow.MlflowClient().get_model_version("mmrisk-multitask", "1").run_id == logged["run_id"]


def test_the_link_base_is_configurable():
    assert MlflowResource(tracking_uri="sqlite:///x.db", ui_url="https://mlflow.example.org/").link_base() == "https://mlflow.example.org"
    assert MlflowResource(tracking_uri="sqlite:///x.db").link_base() == "http://127.0.0.1:5000"
