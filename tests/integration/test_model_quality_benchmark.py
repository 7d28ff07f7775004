"""`benchmarks/model_quality.py` on two tiny universes: each is the demo's graph in a process and
data home of its own, and the pooled table is what those homes' `model_evaluation` says.

The figures the README reports come from this script, so its wiring (one subprocess per universe,
the pooling, the margins) is checked here against the assets a user would open in the UI.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from tests.commands import ROOT

SEEDS = (3, 5)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    work = tmp_path_factory.mktemp("model_quality")
    out = work / "model_quality.json"
    command = [
        sys.executable, "-m", "benchmarks.model_quality", "--entities", "30", "--start", "2024-01-01",
        "--end", "2024-06-28", "--default-rate", "1.0", "--universe-seeds", *map(str, SEEDS),
        "--model-seeds", "0", "--single-modality-seeds", "0", "--epochs", "2", "--space-epochs", "1",
        "--text-encoder", "hashing", "--homes", str(work / "homes"), "--out", str(out),
    ]
    # The script sets each universe's home and settings; none may leak in from the test's process.
    # A 10-day horizon (and embargo) leaves every split dates in half a year.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "MMRISK_"))}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                          env={**environment, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                               "MMRISK_HORIZON_DAYS": "10"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), work / "homes"


def test_each_universe_is_the_graph_in_its_own_home(benchmark):
    result, homes = benchmark
    assert sorted(result["universes"]) == [str(s) for s in SEEDS]
    for seed in SEEDS:
        report = result["universes"][str(seed)]
        evaluation = ParquetWarehouse(homes / f"universe-{seed}" / "warehouse").read_json("model_evaluation")
        assert report["graph_run"]["gate"] == evaluation["gate"]["passed"]
        assert report["model"]["members"]["default"]["auc"] == evaluation["model"]["members"]["default"]["auc"]
        assert report["events"]["test"] >= report["default_events"]["test"] > 0
        assert 0.0 <= report["latent_hazard_auc"] <= 1.0
    # Different seeds, different universes: a benchmark that reran one home would repeat its figures.
    fused = [result["universes"][str(s)]["model"]["members"]["default"]["auc"]["mean"] for s in SEEDS]
    assert fused[0] != fused[1]


def test_the_pooled_table_and_margins_follow_the_universes(benchmark):
    result, _ = benchmark
    reports = [result["universes"][str(s)] for s in SEEDS]
    fused = np.array([r["model"]["members"]["default"]["auc"]["mean"] for r in reports])
    assert result["summary"]["fused model"]["mean"] == pytest.approx(fused.mean())
    for name in reports[0]["baselines"]:
        baseline = np.array([r["baselines"][name]["test"]["mean"] for r in reports])
        assert result["margins"][name]["per_universe"] == pytest.approx(list(fused - baseline))
    best = [max(r["single_modality_models"].values(), key=lambda m: m["test"]["mean"])["test"]["mean"] for r in reports]
    assert result["margins"]["best single-modality model"]["per_universe"] == pytest.approx(list(fused - best))
    assert f"gate passed in {sum(r['gate']['passed'] for r in reports)} of 2" in result["markdown"]
