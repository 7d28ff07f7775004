"""The MLflow registry: a pyfunc model over safetensors weights, aliases that follow the gate."""

import json

import numpy as np
import pandas as pd
import pytest

from mmrisk_dagster.ml.features import PRICE_WINDOW, price_vector_size
from mmrisk_dagster.ml.artifacts import save_multitask
from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel
from mmrisk_dagster.ml.registry_model import input_example, score_panel
from mmrisk_dagster.ml.var import fit_var_multipliers
from mmrisk_dagster.resources.tracking import MlflowResource

# Multipliers fitted on no rows: the normal quantiles.
NORMAL_VAR = fit_var_multipliers(np.array([]), np.array([]))

DIMS = {"fundamentals": 7, "prices": price_vector_size(PRICE_WINDOW), "chart": 480, "news": 392, "social": 396}


def _panel(n=30, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"entity_id": [f"e{i % 5}" for i in range(n)], "date": pd.bdate_range("2024-01-01", periods=n)})
    for m, d in DIMS.items():
        present = rng.random(n) < 0.7
        present[0] = True
        if m == "chart":
            frame["chart_image"] = [rng.integers(0, 256, d, dtype=np.uint8).tobytes() if p else None for p in present]
        else:
            frame[f"{m}_vector"] = [rng.normal(size=d).astype(np.float32) if p else None for p in present]
        frame[f"{m}_present"] = present
        frame[f"{m}_age"] = np.where(present, 0.0, np.nan)
    frame["missing_policy"] = "mask"
    return frame


@pytest.fixture()
def registered(tmp_path):
    import torch

    torch.manual_seed(0)
    config = FusionConfig(d=16, hidden=16)
    models = [MultitaskFusionModel(DIMS, config).eval() for _ in range(2)]
    extra = {"calibrator": {"method": "platt", "a": 1.0, "b": 0.0}, "vol_mean": -4.0, "vol_std": 0.5, "var_multipliers": NORMAL_VAR}
    card = save_multitask(tmp_path / "models", models, config, extra)
    panel = _panel()
    example = input_example(panel)
    resource = MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=str(tmp_path / "artifacts"))
    logged = resource.log_training({"epochs": 1}, [[]], {}, card, {"model_version": card["version"]}, example, score_panel(models, card, example), {})
    return resource, logged, models, card, panel, tmp_path


def test_registered_model_is_a_pyfunc_with_signature_and_no_pickle(registered):
    import mlflow

    resource, logged, models, card, panel, tmp_path = registered
    client = mlflow.MlflowClient(resource.tracking_uri)
    assert client.get_model_version_by_alias(resource.registered_model, "challenger").version == logged["model_version"]
    info = mlflow.models.get_model_info(logged["model_uri"])
    assert "python_function" in info.flavors
    assert {"entity_id", "prices_vector", "chart_image"} <= set(info.signature.inputs.input_names())
    assert "default_probability" in info.signature.outputs.input_names()
    stored = list((tmp_path / "artifacts").rglob("*"))
    assert any(p.name == "weights.safetensors" for p in stored)
    assert not [p for p in stored if p.suffix in (".pkl", ".pickle") or p.name == "python_model.pkl"]
    assert any(p.name == "input_example.json" for p in stored)
    # The example survives MLflow's JSON round trip: a model server would accept it.
    serving = mlflow.models.convert_input_example_to_serving_input(input_example(panel))
    request, answer = tmp_path / "request.json", tmp_path / "served.json"
    request.write_text(serving)
    mlflow.models.predict(logged["model_uri"], input_path=str(request), env_manager="local", output_path=str(answer))
    served = pd.DataFrame(json.loads(answer.read_text())["predictions"])
    assert len(served) == len(input_example(panel)) and served["default_probability"].between(0, 1).all()


def test_champion_follows_the_gate_and_scores_like_the_model(registered):
    import mlflow

    resource, logged, models, card, panel, _ = registered
    version = logged["model_version"]
    with pytest.raises(LookupError, match="champion"):
        resource.load_champion()
    assert resource.record_gate(version, {"passed": True, "margin": 0.03}) == version
    client = mlflow.MlflowClient(resource.tracking_uri)
    tags = client.get_model_version(resource.registered_model, version).tags
    assert tags["gate_passed"] == "True" and tags["gate_margin"] == "0.03"
    scores = resource.load_champion().predict(panel)
    expected = score_panel(models, card, panel)
    np.testing.assert_allclose(scores["default_probability"], expected["default_probability"], rtol=1e-6)
    assert (scores["model_version"] == card["version"]).all()
    # The graph scores with the champion's own model, past MLflow's schema enforcement: the same frame.
    pd.testing.assert_frame_equal(resource.load_champion().unwrap_python_model().score(panel), scores)
    # A failed re-evaluation takes the alias away: nothing unvetted is scored.
    assert resource.record_gate(version, {"passed": False, "margin": -0.2}) is None
    with pytest.raises(LookupError):
        resource.load_champion()
