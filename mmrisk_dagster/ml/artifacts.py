"""Versioned model files: safetensors weights + JSON config, named by a hash of the weights.

A model card (a plain dict, stored by the IO manager as the asset's value) points at the folder
and records the SHA-256 of every file in it; loading checks the files against the card first (a
model file replaced by another valid one would otherwise change every score under the same
version), then rebuilds the module from the saved config and reads weights without unpickling.
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
SCORING_FIELDS = ("version", "dims", "calibrator", "vol_mean", "vol_std", "var_multipliers", "member_file_sha256")


def weights_version(modules) -> str:
    digest = hashlib.sha1()
    for module in modules:
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        digest.update(save(state))
    return digest.hexdigest()[:12]


MODEL_FILES = ("config.json", "weights.safetensors")


class ModelFileError(RuntimeError):
    """A model file is missing, damaged or not the one its card was written for."""


def file_digests(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in MODEL_FILES}


def verify_model_files(directory: Path, expected: dict[str, str] | None, asset: str) -> None:
    """Raise `ModelFileError` naming the file and the fix unless every file matches its card."""
    fix = f"re-materialize `{asset}` and the assets after it"
    if not expected:
        raise ModelFileError(
            f"the {asset} card for {directory} records no file hashes (written by an older version); {fix}"
        )
    for name in MODEL_FILES:
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"{path} is missing; {fix}")
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        if found != expected.get(name):
            raise ModelFileError(
                f"{path} does not match the SHA-256 recorded when the model was saved (expected "
                f"{expected.get(name, '?')[:16]}..., found {found[:16]}...): it was replaced or damaged; {fix}"
            )


def _fresh_dir(root: Path, kind: str, version: str) -> Path:
    directory = root / kind / version
    if directory.exists():
        shutil.rmtree(directory)
    return directory


def save_shared_space(root: Path, model: SharedSpace, config: dict, extra: dict) -> dict:
    version = weights_version([model])
    directory = _fresh_dir(root, "shared_space", version)
    save_module(model, directory, {"dims": model.dims, "d": model.d, "config": config})
    return {
        "version": version,
        "path": str(directory),
        "dims": model.dims,
        "d": model.d,
        "config": config,
        "file_sha256": file_digests(directory),
        **extra,
    }


@lru_cache(maxsize=8)
def _load_shared_space(path: str, digests: tuple) -> SharedSpace:
    saved = load_config(Path(path))
    return load_weights(SharedSpace(saved["dims"], saved["d"]), Path(path))


def load_shared_space(card: dict) -> SharedSpace:
    verify_model_files(Path(card["path"]), card.get("file_sha256"), "shared_space")
    return _load_shared_space(card["path"], tuple(sorted(card["file_sha256"].items())))


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
        "member_file_sha256": [file_digests(Path(p)) for p in paths],
        "dims": models[0].dims,
        "config": config.to_dict(),
        **extra,
    }
    scoring = {**{k: card[k] for k in SCORING_FIELDS}, "members": len(models)}
    (directory / SCORING_CARD).write_text(json.dumps(scoring, indent=2))
    return card


@lru_cache(maxsize=16)
def _load_member(path: str, digests: tuple) -> MultitaskFusionModel:
    saved = load_config(Path(path))
    return load_weights(MultitaskFusionModel(saved["dims"], FusionConfig.from_dict(saved["config"])), Path(path))


def load_multitask(card: dict) -> list[MultitaskFusionModel]:
    """The ensemble's members, each checked against its card (the cache is keyed by the hashes,
    so a verified file is read once per process)."""
    digests = card.get("member_file_sha256") or [None] * len(card["member_paths"])
    members = []
    for path, expected in zip(card["member_paths"], digests, strict=True):
        verify_model_files(Path(path), expected, "multitask_model")
        members.append(_load_member(path, tuple(sorted(expected.items()))))
    return members


def load_scoring_card(directory: Path) -> tuple[list[MultitaskFusionModel], dict]:
    """The ensemble saved by `save_multitask` in `directory` (or a copy of that folder, as the
    registry keeps), each member checked against the hashes in the scoring card, and the card."""
    card = json.loads((directory / SCORING_CARD).read_text())
    missing = [field for field in SCORING_FIELDS if field not in card]
    if missing:
        raise ModelFileError(
            f"{directory / SCORING_CARD} lacks {', '.join(missing)} (saved by an older version); "
            "re-materialize `multitask_model` and `model_evaluation` to register a model this version can score with"
        )
    members = []
    for i, expected in enumerate(card["member_file_sha256"]):
        path = directory / f"member_{i}"
        verify_model_files(path, expected, "multitask_model")
        members.append(_load_member(str(path), tuple(sorted(expected.items()))))
    return members, card
