"""Multitask model: attention fusion over the modalities present for an entity-date.

Each modality's encoder (initialized from the shared space) maps its input to a token z_m in
R^d, plus a learned modality embedding and an age term. A learned query scores each token,
``s_m = <q, W_k z_m> / sqrt(d)``; a masked softmax over the attended modalities gives weights
``a_m`` and the fused vector is ``sum_m a_m W_v z_m``. Under the ``cross_modal`` policy an absent
modality's token is first imputed as the mean of the present tokens (they live in one aligned
space), then attended to like the others. The weights `a_m` are the per-score explanation.

The default logit also gets a *wide* term (Cheng et al. 2016, "Wide & Deep"): a linear function
of low-dimensional summaries of the modalities that have one (the fundamentals vector, the price
window's per-feature mean and standard deviation, the text modalities' tone and activity over the
day and the trailing 5, 20 and 60 business days, the posts' authors' behaviour),
standardized on training rows and masked like the attention, plus each such modality's presence
and age (an offset and a slope: the baselines see presence flags and ages too, and missingness is
informative). With a few dozen default events a
deep fusion alone overfits before it learns the monotone effects (leverage up, volatility up:
risk up) that a logistic regression finds at once; the wide term carries those and the attention
trunk the rest. Log forward volatility gets its own wide term on the same summaries: a linear
function of recent realized volatility, as in HAR-type forecasts (Corsi 2009), which holds across a
jump in the level of volatility where the trunk alone stays near its training months' level.

Task heads: credit default (binary), log forward volatility (regression), next-day movement
(binary), news sentiment (3 classes). Each loss is masked where its label is missing, so a task
without labels in a dataset simply contributes nothing. Total loss ``sum_t lambda_t L_t`` with
fixed weights, or learned uncertainty weighting (Kendall, Gal & Cipolla 2018).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mmrisk_dagster.ml.encoders import PRICE_STATISTICS_SIZE, build_encoders, price_statistics
from mmrisk_dagster.ml.text_summary import SUMMARIES

TASKS = ("default", "log_forward_vol", "movement", "sentiment")
BINARY_TASKS = ("default", "movement")


# Dense auxiliary labels (volatility every day, sentiment on labelled news) regularize the rare
# default task; on a 100-entity universe these weights gave the best validation AUC.
DEFAULT_TASK_WEIGHTS = {"default": 1.0, "log_forward_vol": 1.0, "movement": 0.5, "sentiment": 0.5}


@dataclass(frozen=True)
class FusionConfig:
    d: int = 64
    hidden: int = 128
    dropout: float = 0.1
    modality_dropout: float = 0.15
    epochs: int = 12
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    patience: int = 4
    task_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    uncertainty_weighting: bool = False
    policy: str = "mask"
    # Modalities whose shared-space encoder stays frozen: their tokens are computed once, which
    # keeps the expensive chart CNN out of every training step.
    frozen_modalities: tuple[str, ...] = ("chart",)
    encoder_lr_scale: float = 0.3
    default_pos_weight: float = 1.0
    early_stopping: str = "auc"
    wide: bool = True
    wide_lr_scale: float = 10.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FusionConfig:
        values = dict(values)
        values["frozen_modalities"] = tuple(values.get("frozen_modalities", ()))
        return cls(**values)


def token_key(modality: str) -> str:
    return f"{modality}:token"


def summary_size(modality: str, dim: int) -> int:
    """Width of `wide_summary` for a modality; 0 for those without one (chart images)."""
    if modality == "prices":
        return PRICE_STATISTICS_SIZE
    if modality in SUMMARIES:
        return len(SUMMARIES[modality])
    return 0 if modality == "chart" else dim


def wide_summary(modality: str, x: torch.Tensor) -> torch.Tensor:
    """Prices: per-feature mean and std over the window and the slow summaries; text: tone and activity over the day and
    the trailing horizons, and for posts their authors' behaviour (the vector's tail,
    `text_summary.SUMMARIES`); tabular modalities: the vector itself."""
    if modality == "prices":
        return price_statistics(x)
    if modality in SUMMARIES:
        return x[:, -len(SUMMARIES[modality]) :]
    return x


class MultitaskFusionModel(nn.Module):
    def __init__(self, dims: dict[str, int], config: FusionConfig):
        super().__init__()
        self.dims = dict(dims)
        self.config = config
        d = config.d
        self.encoders = build_encoders(dims, d)
        self.modality_embedding = nn.Parameter(torch.zeros(len(dims), d))
        self.age_projection = nn.Linear(1, d, bias=False)
        self.query = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d)
        self.trunk = nn.Sequential(
            nn.LayerNorm(d),
            nn.Linear(d, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
        )
        self.heads = nn.ModuleDict(
            {
                "default": nn.Linear(config.hidden, 1),
                "log_forward_vol": nn.Linear(config.hidden, 1),
                "movement": nn.Linear(config.hidden, 1),
                "sentiment": nn.Linear(config.hidden, 3),
            }
        )
        self.log_vars = nn.Parameter(torch.zeros(len(TASKS)))
        # Frozen modalities arrive as precomputed tokens, without the raw input to summarize.
        sizes = (
            {m: summary_size(m, dim) for m, dim in dims.items() if m not in config.frozen_modalities}
            if config.wide
            else {}
        )
        wide = {m: nn.Linear(k, 1, bias=False) for m, k in sizes.items() if k}
        self.wide = nn.ModuleDict(wide)
        # The same summaries, linearly, for log forward volatility: tomorrow's volatility is
        # mostly today's (the price window's return std and mean range), which a linear term
        # carries across a regime change that the trunk, fitted to calmer months, does not.
        vol_wide = {m: nn.Linear(layer.in_features, 1, bias=False) for m, layer in wide.items()}
        for layer in vol_wide.values():
            nn.init.zeros_(layer.weight)
        self.vol_wide = nn.ModuleDict(vol_wide)
        self.availability = nn.Parameter(torch.zeros(len(dims), 2))  # used for the `wide` modalities
        for m, layer in wide.items():
            nn.init.zeros_(layer.weight)
            self.register_buffer(f"wide_mean_{m}", torch.zeros(layer.in_features))
            self.register_buffer(f"wide_scale_{m}", torch.ones(layer.in_features))

    @property
    def modalities(self) -> list[str]:
        return list(self.dims)

    def frozen(self) -> list[str]:
        return [m for m in self.modalities if m in self.config.frozen_modalities]

    @torch.no_grad()
    def fit_wide_scaling(self, batch: dict[str, torch.Tensor]) -> None:
        """Standardize each wide summary with the mean and std of the rows where it is present."""
        for i, m in enumerate(self.modalities):
            if m not in self.wide:
                continue
            summary = wide_summary(m, batch[m][batch["present"][:, i]])
            if len(summary) > 1:
                getattr(self, f"wide_mean_{m}").copy_(summary.mean(dim=0))
                getattr(self, f"wide_scale_{m}").copy_(summary.std(dim=0).clamp(min=1e-6))

    def wide_logits(
        self, batch: dict[str, torch.Tensor], attend: torch.Tensor, layers: nn.ModuleDict | None = None
    ) -> torch.Tensor:
        """(n, M) wide contribution of each modality to the default logit (or, with `layers` =
        `vol_wide`, to log forward volatility); 0 where not seen."""
        layers = self.wide if layers is None else layers
        out = torch.zeros(attend.shape)
        for i, m in enumerate(self.modalities):
            if m not in layers:
                continue
            summary = (wide_summary(m, batch[m]) - getattr(self, f"wide_mean_{m}")) / getattr(self, f"wide_scale_{m}")
            value = layers[m](summary).squeeze(-1)
            if layers is self.wide:
                # Whether the modality is there at all, and how stale, is a signal of its own (a
                # company that stops filing or falls silent): an offset and an age slope.
                value = value + self.availability[i, 0] + self.availability[i, 1] * batch["age"][:, i]
            seen = attend[:, i] & batch["present"][:, i]
            out[:, i] = torch.where(seen, value, 0.0)
        return out

    def tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        z = torch.stack(
            [batch[token_key(m)] if token_key(m) in batch else self.encoders[m](batch[m]) for m in self.modalities],
            dim=1,
        )
        return z + self.modality_embedding[None] + self.age_projection(batch["age"][..., None])

    def forward(self, batch: dict[str, torch.Tensor], attend: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens = self.tokens(batch)
        wide = self.wide_logits(batch, attend)
        if self.config.policy == "cross_modal":
            weights = attend.float()[..., None]
            mean_present = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)
            tokens = torch.where(attend[..., None], tokens, mean_present[:, None, :])
            attend = torch.ones_like(attend)
        scores = (self.key(tokens) @ self.query) / math.sqrt(self.config.d)
        scores = scores.masked_fill(~attend, float("-inf"))
        attention = torch.softmax(scores, dim=1)
        fused = (attention[..., None] * self.value(tokens)).sum(dim=1)
        hidden = self.trunk(fused)
        out = {task: head(hidden) for task, head in self.heads.items()}
        out = {k: (v.squeeze(-1) if k != "sentiment" else v) for k, v in out.items()}
        out["default"] = out["default"] + wide.sum(dim=1)
        out["log_forward_vol"] = out["log_forward_vol"] + self.wide_logits(batch, attend, self.vol_wide).sum(dim=1)
        out["attention"] = attention
        out["wide"] = wide
        return out


def task_losses(
    outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], default_pos_weight: float = 1.0
) -> dict[str, torch.Tensor]:
    """Per-task mean loss over rows with a label; tasks without any label are omitted."""
    losses = {}
    for task in TASKS:
        y = labels[task]
        known = ~torch.isnan(y)
        if known.sum() == 0:
            continue
        pred = outputs[task][known]
        if task in BINARY_TASKS:
            weight = torch.tensor(default_pos_weight if task == "default" else 1.0)
            losses[task] = F.binary_cross_entropy_with_logits(pred, y[known], pos_weight=weight)
        elif task == "sentiment":
            losses[task] = F.cross_entropy(pred, y[known].long())
        else:
            losses[task] = F.mse_loss(pred, y[known])
    return losses


def combine_losses(model: MultitaskFusionModel, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """sum_t lambda_t L_t, or Kendall et al.'s sum_t exp(-s_t) L_t + s_t with learned s_t."""
    total = torch.zeros(())
    for i, task in enumerate(TASKS):
        if task not in losses:
            continue
        if model.config.uncertainty_weighting:
            total = total + torch.exp(-model.log_vars[i]) * losses[task] + model.log_vars[i]
        else:
            total = total + model.config.task_weights.get(task, 0.0) * losses[task]
    return total
