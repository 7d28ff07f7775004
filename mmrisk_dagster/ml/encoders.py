"""Modality encoders mapping each modality's input into a d-dimensional space.

* tabular vectors: a two-layer MLP; text vectors: the same over their direction and day's count;
* price sequences: a GRU over the trading-day window, beside the window's statistics;
* chart images: a small CNN (a 5x3 convolution striding one trading day, then 3x3 ones), a CPU-sized cousin of the
  Jiang, Kelly & Xiu (2023) network.
"""

from __future__ import annotations

import torch
from torch import nn

from mmrisk_dagster.ml.features import PRICE_FEATURES, PRICE_SUMMARY, split_price_vectors
from mmrisk_dagster.ml.text_summary import SUMMARIES


class MLPEncoder(nn.Module):
    def __init__(self, in_dim: int, d: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, d),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def window_statistics(window: torch.Tensor) -> torch.Tensor:
    """(n, days, features) -> (n, 2 * features): each feature's mean and std over the window."""
    return torch.cat([window.mean(dim=1), window.std(dim=1)], dim=-1)


def price_statistics(vectors: torch.Tensor) -> torch.Tensor:
    """The window's statistics, then the vector's slow summaries: what the wide term reads."""
    window, summary = split_price_vectors(vectors)
    return torch.cat([window_statistics(window), summary], dim=-1)


PRICE_STATISTICS_SIZE = 2 * len(PRICE_FEATURES) + len(PRICE_SUMMARY)


class PriceEncoder(nn.Module):
    """GRU over the window, plus the window's mean and standard deviation of every feature.

    The statistics hand the head realized volatility and drift directly: with few labelled events
    a GRU is slow to learn a standard deviation on its own. The vector's slow summaries
    (`features.PRICE_SUMMARY`) reach the model through the wide term only: beside these in the
    encoder's layer norm they lowered the fused model on two benchmark universes (docs/model.md).
    """

    def __init__(self, d: int, hidden: int = 64):
        super().__init__()
        n_features = len(PRICE_FEATURES)
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.statistics = nn.LayerNorm(2 * n_features)
        self.out = nn.Linear(hidden + 2 * n_features, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window, _ = split_price_vectors(x)
        _, last = self.gru(window)
        return self.out(torch.cat([last[-1], self.statistics(window_statistics(window))], dim=-1))


class ChartEncoder(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.net = nn.Sequential(
            # Stride 3 across columns: one output column per trading day.
            nn.Conv2d(1, 8, kernel_size=(5, 3), stride=(2, 3), padding=(2, 0)),
            nn.LeakyReLU(0.01),
            nn.MaxPool2d((2, 1)),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.LeakyReLU(0.01),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.LeakyReLU(0.01),
            nn.AdaptiveAvgPool2d((2, 2)),
            nn.Flatten(),
            nn.Linear(32 * 4, d),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TextEncoder(nn.Module):
    """The MLP over a text vector's mean direction and the day's log count. The rest of the
    summary after them (`text_summary.SUMMARIES`) reaches the model through its wide term only: in
    one layer norm with the unit direction, counts over months would drown it."""

    def __init__(self, dim: int, d: int, summary: tuple[str, ...]):
        super().__init__()
        if dim <= len(summary):
            raise ValueError(
                f"a text vector of {dim} values has no direction before its {len(summary)} summary values "
                f"{summary}: embeddings from an older version? Re-materialize the text embeddings"
            )
        self.deep_dim = dim - len(summary) + 1
        self.mlp = MLPEncoder(self.deep_dim, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x[..., : self.deep_dim])


def build_encoders(dims: dict[str, int], d: int) -> nn.ModuleDict:
    encoders: dict[str, nn.Module] = {}
    for modality, dim in dims.items():
        if modality == "prices":
            encoders[modality] = PriceEncoder(d)
        elif modality == "chart":
            encoders[modality] = ChartEncoder(d)
        elif modality in SUMMARIES:
            encoders[modality] = TextEncoder(dim, d, SUMMARIES[modality])
        else:
            encoders[modality] = MLPEncoder(dim, d)
    return nn.ModuleDict(encoders)
