"""The model's pictures: real PNGs, each under the size limit, embedded so the UI can render them."""

import base64
import io
import re

import matplotlib.image
import numpy as np
import pandas as pd

from mmrisk_dagster.ml import plots
from mmrisk_dagster.ml.panel import MODALITIES

RNG = np.random.default_rng(0)


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG") and len(png) < plots.MAX_PNG_BYTES
    height, width = matplotlib.image.imread(io.BytesIO(png)).shape[:2]
    return width, height


def test_every_picture_is_a_small_png():
    n = 5000
    y = RNG.integers(0, 2, n).astype(float)
    p = np.clip(0.3 * y + 0.7 * RNG.random(n), 0, 1)
    attention = RNG.dirichlet(np.ones(len(MODALITIES)), n)
    dates = pd.Series(pd.bdate_range("2024-01-01", periods=50).repeat(n // 50))
    vectors = {m: RNG.normal(size=(n, 64)).astype(np.float32) for m in MODALITIES}
    histories = [[{"epoch": e, "train_loss": 1 / (e + 1), "validation_score": 0.5 + e / 40} for e in range(8)] for _ in range(3)]
    pictures = [
        plots.roc_and_reliability("default", y, p, 0.8),
        plots.score_distribution(p, y),
        plots.attention_by_decile(attention, list(MODALITIES), p),
        plots.coverage_over_time(dates, RNG.random((n, len(MODALITIES))) < 0.7, list(MODALITIES)),
        plots.shared_space_projection(vectors, {m: p for m in MODALITIES}),
        plots.training_curves(histories, [0, 1, 2]),
    ]
    for png in pictures:
        width, height = _size(png)
        assert width > 300 and height > 200


def test_roc_curve_runs_from_the_origin_to_one_and_ranks_a_perfect_score_first():
    fpr, tpr = plots._roc_curve(np.array([0, 1, 0, 1.0]), np.array([0.1, 0.9, 0.2, 0.8]))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert tpr[2] == 1 and fpr[2] == 0  # both positives before any negative


def test_markdown_embeds_each_picture_as_a_data_uri():
    png = plots.training_curves([[{"epoch": 0, "train_loss": 1.0, "validation_score": 0.5}]], [0])
    text = plots.markdown_images({"curves": png, "again": png})
    embedded = re.findall(r"!\[([^\]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert [title for title, _ in embedded] == ["curves", "again"]
    assert base64.b64decode(embedded[0][1]) == png
