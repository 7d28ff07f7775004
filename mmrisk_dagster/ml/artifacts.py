"""Versioned model files: safetensors weights + JSON config, named by a hash of the weights.

A model card (a plain dict, stored by the IO manager as the asset's value) points at the folder;
loading rebuilds the module from the saved config and reads weights without unpickling anything.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import lru_cache
from pathlib import Path

from safetensors.torch import save

from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel
from mmrisk_dagster.ml.shared_space import SharedSpace
from mmrisk_dagster.ml.torch_utils import load_config, load_weights, save_module

SCORING_CARD = "scoring_card.json"
# What scoring reads besides the weights: the registered model carries them in SCORING_CARD.
SCORING_FIELDS = ("version", "dims", "calibrator", "vol_mean", "vol_std")


def weights_version(modules) -> str:
    digest = hashlib.sha1()
    for module in modules:
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        digest.update(save(state))
    return digest.hexdigest()[:12]


def _fresh_dir(root: Path, kind: str, version: str) -> Path:
    directory = root / kind / version
    if directory.exists():
        shutil.rmtree(directory)
    return directory


def save_shared_space(root: Path, model: SharedSpace, config: dict, extra: dict) -> dict:
    version = weights_version([model])
    directory = _fresh_dir(root, "shared_space", version)
    save_module(model, directory, {"dims": model.dims, "d": model.d, "config": config})
    return {"version": version, "path": str(directory), "dims": model.dims, "d": model.d, "config": config, **extra}


@lru_cache(maxsize=8)
def _load_shared_space(path: str) -> SharedSpace:
    saved = load_config(Path(path))
    return load_weights(SharedSpace(saved["dims"], saved["d"]), Path(path))


def load_shared_space(card: dict) -> SharedSpace:
    return _load_shared_space(card["path"])


def save_multitask(root: Path, models: list[MultitaskFusionModel], config: FusionConfig, extra: dict) -> dict:
    version = weights_version(models)
    directory = _fresh_dir(root, "multitask", version)
    paths = [
        str(save_module(m, directory / f"member_{i}", {"dims": m.dims, "config": config.to_dict()}))
        for i, m in enumerate(models)
    ]
    card = {
        "version": version,
        "path": str(directory),
        "member_paths": paths,
        "dims": models[0].dims,
        "config": config.to_dict(),
        **extra,
    }
    scoring = {**{k: card[k] for k in SCORING_FIELDS}, "members": len(models)}
    (directory / SCORING_CARD).write_text(json.dumps(scoring, indent=2))
    return card


@lru_cache(maxsize=16)
def _load_member(path: str) -> MultitaskFusionModel:
    saved = load_config(Path(path))
    return load_weights(MultitaskFusionModel(saved["dims"], FusionConfig.from_dict(saved["config"])), Path(path))


def load_multitask(card: dict) -> list[MultitaskFusionModel]:
    return [_load_member(p) for p in card["member_paths"]]


def load_scoring_card(directory: Path) -> tuple[list[MultitaskFusionModel], dict]:
    """The ensemble saved by `save_multitask` in `directory` (a copy of it, too) and its scoring card."""
    card = json.loads((directory / SCORING_CARD).read_text())
    return [_load_member(str(directory / f"member_{i}")) for i in range(card["members"])], card
