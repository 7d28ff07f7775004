"""How much of the generator's latent state the graph's features carry, per modality.

A screen for feature work, and a ceiling for the models. It reads the panel that the graph wrote
into each universe's data home (`benchmarks/model_quality.py --homes`), joins the generator's
latent factors per entity-date (common distress D, balance-sheet weakness L, volatility regime V,
news shock S, and the hazard's index z), and fits, on the training split's rows only, a ridge
regression of each factor on what the fused model's wide term reads of each modality
(`fusion.wide_summary`: the fundamentals vector, the price window's per-feature mean and std with
the price summary, the text summaries), with the modality's presence flag. (The MiniLM
directions are left out: they name the company, and a probe fitted on them learns each entity's
level of a slow factor, which has drifted by the test months.) It reports the R² on the test
split, and the test default AUC of the ridge probe of z from every modality together: a linear
reading of the features fitted on the latent z itself, which no team has, rather than on a few
hundred default labels. The table gives the squared correlation of probe and factor on the test
rows; the JSON has the R² too, which also counts a shift of the factor's level between the
training and the test months (the common distress wanders slowly; a ranking, and so an AUC
within the test split, does not see that shift). Against the true hazard's AUC it splits the gap into what a linear
reading of the features loses (probe below hazard) and what learning from labels loses or
gains (model against probe).

    python -m benchmarks.model_quality --entities 100 --universe-seeds 11 12 --homes /tmp/homes
    python -m benchmarks.latent_probe --homes /tmp/homes --universe-seeds 11 12

Seconds per universe once the homes exist; it reads what the last graph run wrote there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.model_quality import universe_config
from mmrisk_dagster.ml.fusion import wide_summary
from mmrisk_dagster.ml.inputs import infer_dims, panel_arrays
from mmrisk_dagster.ml.metrics import mean_std
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
from mmrisk_dagster.sources.synthetic import cached_universe

FACTORS = ("D", "L", "V", "S", "z")
ALPHAS = np.logspace(-1, 5, 13)


def modality_features(panel: pd.DataFrame) -> dict[str, np.ndarray]:
    """What the fused model's wide term reads of each modality (`fusion.wide_summary`) and its
    presence flag, zeros where absent; 'all' joins them."""
    arrays = panel_arrays(panel, infer_dims(panel))
    out = {}
    for i, (modality, values) in enumerate(arrays.inputs.items()):
        if modality == "chart":  # no linear term: the chart reaches the model through its CNN only
            continue
        wide = wide_summary(modality, torch.from_numpy(values)).numpy()
        out[modality] = np.hstack([wide, arrays.present[:, [i]]]).astype(np.float64)
    out["all"] = np.hstack(list(out.values()))
    return out


def fit_probe(x: np.ndarray, y: np.ndarray, train: np.ndarray, dates: pd.Series):
    """Standardized ridge regression, its penalty chosen on the last quarter of the training dates
    (fitted on the rest): rows of one entity or day are correlated, so leave-one-out would pick
    too small a penalty."""
    cut = dates.iloc[train].quantile(0.75)
    early, late = train[(dates.iloc[train] <= cut).to_numpy()], train[(dates.iloc[train] > cut).to_numpy()]

    def model(alpha: float):
        return make_pipeline(StandardScaler(), Ridge(alpha=alpha))

    scores = [r2_score(y[late], model(a).fit(x[early], y[early]).predict(x[late])) for a in ALPHAS]
    return model(ALPHAS[int(np.argmax(scores))]).fit(x[train], y[train])


def probe_universe(home: Path, seed: int, options: dict) -> dict:
    warehouse = ParquetWarehouse(home / "warehouse")
    split = warehouse.read_json("multitask_model")["split"]
    panel = warehouse.read("modality_panel")
    latent = cached_universe(universe_config(seed, options)).latent
    labels = warehouse.read("training_labels", columns=["entity_id", "date", "default"])
    keys = panel[["entity_id", "date"]].assign(date=pd.to_datetime(panel["date"]))
    # Left merges keep the panel's row order, so row i of `rows` is row i of every feature matrix.
    rows = keys.merge(latent.assign(date=pd.to_datetime(latent["date"])), on=["entity_id", "date"], how="left")
    rows = rows.merge(labels.assign(date=pd.to_datetime(labels["date"])), on=["entity_id", "date"], how="left")
    known = rows["z"].notna()
    index = {
        name: np.flatnonzero(known & rows["date"].between(pd.Timestamp(split[name][0]), pd.Timestamp(split[name][1])))
        for name in ("train", "test")
    }
    features = modality_features(panel)
    r2: dict[str, dict[str, float]] = {}
    tracked: dict[str, dict[str, float]] = {}
    probes = {}
    for modality, x in features.items():
        r2[modality], tracked[modality] = {}, {}
        for factor in FACTORS:
            y = rows[factor].to_numpy()
            probe = fit_probe(x, y, index["train"], rows["date"])
            truth, reading = y[index["test"]], probe.predict(x[index["test"]])
            r2[modality][factor] = float(r2_score(truth, reading))
            tracked[modality][factor] = float(np.corrcoef(truth, reading)[0, 1] ** 2)
            probes[modality, factor] = probe
    scored = index["test"][rows["default"].notna().to_numpy()[index["test"]]]
    outcome = rows["default"].to_numpy()[scored]
    return {
        "squared_correlation": tracked,
        "r2": r2,
        "probe_z_auc": roc_auc_score(outcome, probes["all", "z"].predict(features["all"][scored])),
        "latent_hazard_auc": roc_auc_score(outcome, rows["hazard"].to_numpy()[scored]),
        "rows": {name: int(len(i)) for name, i in index.items()} | {"test_labelled": int(len(scored))},
    }


def markdown(reports: dict[str, dict]) -> str:
    first = next(iter(reports.values()))
    lines = [
        "| squared correlation of a ridge probe with the factor, test (mean ± std over universes) | "
        + " | ".join(FACTORS)
        + " |",
        "|---|" + "---|" * len(FACTORS),
    ]
    for modality in first["squared_correlation"]:
        cells = [mean_std([r["squared_correlation"][modality][f] for r in reports.values()]) for f in FACTORS]
        lines.append(f"| {modality} | " + " | ".join(f"{c['mean']:.3f} ± {c['std']:.3f}" for c in cells) + " |")
    for key, name in (
        ("probe_z_auc", "default AUC of the probe of z from all modalities"),
        ("latent_hazard_auc", "default AUC of the true hazard"),
    ):
        values = [r[key] for r in reports.values()]
        cell = mean_std(values)
        per = ", ".join(f"{v:.3f}" for v in values)
        lines.append(f"\n{name}, test: {per} ({cell['mean']:.3f} ± {cell['std']:.3f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", required=True, help="the --homes folder of a benchmarks.model_quality run")
    parser.add_argument("--universe-seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--out", default="benchmarks/results/latent_probe.json")
    args = parser.parse_args()
    reports = {}
    for seed in args.universe_seeds:
        home = Path(args.homes) / f"universe-{seed}"
        part = Path(args.homes) / f"universe-{seed}.json"
        if not part.exists():
            raise SystemExit(
                f"{part} is missing: run benchmarks.model_quality with --homes {args.homes} for seed {seed} first"
            )
        reports[str(seed)] = probe_universe(home, seed, json.loads(part.read_text())["config"])
    table = markdown(reports)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": vars(args), "universes": reports, "markdown": table}, indent=2))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
