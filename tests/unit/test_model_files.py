"""Model files are checked against the SHA-256 their card recorded before anything loads them."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from mmrisk_dagster.ml.artifacts import SCORING_CARD, ModelFileError, load_multitask, load_scoring_card, save_multitask
from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel

DIMS = {"fundamentals": 3, "prices": 4, "chart": 8, "news": 10, "social": 14}  # text: a direction, then its summary
# What training adds to a card and scoring reads back (ml.artifacts.SCORING_FIELDS).
SCORING_EXTRA = {"calibrator": None, "vol_mean": 0.0, "vol_std": 1.0, "var_multipliers": {}}


@pytest.fixture
def card(tmp_path):
    torch.manual_seed(0)
    return save_multitask(tmp_path / "a", [MultitaskFusionModel(DIMS, FusionConfig())], FusionConfig(), SCORING_EXTRA)


def test_a_model_file_replaced_by_another_valid_one_is_refused(card, tmp_path):
    torch.manual_seed(1)
    other = save_multitask(tmp_path / "b", [MultitaskFusionModel(DIMS, FusionConfig())], FusionConfig(), SCORING_EXTRA)
    weights = Path(card["member_paths"][0]) / "weights.safetensors"
    shutil.copyfile(Path(other["member_paths"][0]) / "weights.safetensors", weights)
    with pytest.raises(ModelFileError, match=rf"{weights} does not match the SHA-256 .* re-materialize `multitask_model`"):
        load_multitask(card)


def test_a_truncated_or_missing_model_file_is_a_clear_error(card):
    weights = Path(card["member_paths"][0]) / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="replaced or damaged"):
        load_multitask(card)
    weights.unlink()
    with pytest.raises(ModelFileError, match=rf"{weights} is missing"):
        load_multitask(card)


def test_an_intact_model_loads(card):
    assert len(load_multitask(card)) == 1


def test_a_scoring_card_from_an_older_version_names_what_it_lacks_and_the_fix(card):
    directory = Path(card["path"])
    assert len(load_scoring_card(directory)[0]) == 1
    saved = json.loads((directory / SCORING_CARD).read_text())
    del saved["var_multipliers"]
    (directory / SCORING_CARD).write_text(json.dumps(saved))
    with pytest.raises(ModelFileError, match=r"lacks var_multipliers .* re-materialize `multitask_model`"):
        load_scoring_card(directory)
