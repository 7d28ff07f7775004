"""Seeding and safe (pickle-free) persistence of torch modules."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def shuffled_batches(rows: np.ndarray, batch_size: int, generator: torch.Generator):
    """One epoch's mini-batches of `rows`, in an order drawn from the seeded generator."""
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def save_module(module: torch.nn.Module, directory: Path, config: dict) -> Path:
    """Weights as safetensors plus a JSON config: loading never unpickles anything."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(directory / "weights.safetensors"))
    (directory / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return directory


def load_weights(module: ModuleT, directory: Path) -> ModuleT:
    module.load_state_dict(load_file(str(directory / "weights.safetensors")))
    return module.eval()


def load_config(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())
