"""A stack of already fitted scorers: logistic regression over each component's logit, fitted
on rows that none of the components was fitted on (a selection split), so that the weights say
how much each component adds beyond the others on unseen rows.

Used where one model family alone is not the strongest: on a flat credit record the trees rank
better than the network, and the stack keeps the network only for what it adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from mmrisk_dagster.ml.prediction import logit, sigmoid


@dataclass(frozen=True)
class LogitStack:
    weights: tuple[float, ...]
    intercept: float

    @classmethod
    def fit(cls, y: np.ndarray, components: list[np.ndarray]) -> LogitStack:
        """`components`: each scorer's probabilities on the same rows as `y` (held out from it)."""
        if len(np.unique(y)) < 2:
            raise ValueError("a stack needs both classes on its selection rows")
        fitted = LogisticRegression(C=1.0, max_iter=1000).fit(_logits(components), y)
        return cls(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]))

    def predict(self, components: list[np.ndarray]) -> np.ndarray:
        if len(components) != len(self.weights):
            raise ValueError(f"the stack has {len(self.weights)} components, got {len(components)}")
        return sigmoid(_logits(components) @ np.asarray(self.weights) + self.intercept)


def _logits(components: list[np.ndarray]) -> np.ndarray:
    return np.column_stack([logit(np.asarray(p, dtype=float)) for p in components])
