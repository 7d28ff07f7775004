import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mmrisk_dagster.ml.prediction import sigmoid
from mmrisk_dagster.ml.stacking import LogitStack


def _scores(n: int, seed: int):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(2 * risk - 1)).astype(float)
    strong = sigmoid(risk + 0.3 * rng.normal(size=n))
    weak = sigmoid(0.5 * risk + rng.normal(size=n))
    noise = sigmoid(rng.normal(size=n))
    return y, strong, weak, noise


def test_the_stack_weighs_what_each_component_adds_on_held_out_rows():
    y, strong, weak, noise = _scores(4000, 0)
    stack = LogitStack.fit(y, [strong, weak, noise])
    assert stack.weights[0] > 3 * abs(stack.weights[1]) and abs(stack.weights[2]) < 0.15
    y_new, strong_new, weak_new, noise_new = _scores(4000, 1)
    stacked = stack.predict([strong_new, weak_new, noise_new])
    assert roc_auc_score(y_new, stacked) >= roc_auc_score(y_new, strong_new) - 0.005
    assert roc_auc_score(y_new, stacked) > roc_auc_score(y_new, weak_new) + 0.05


def test_two_complementary_scores_stack_above_either():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 6000))
    y = (rng.random(6000) < sigmoid(a + b)).astype(float)
    first, second = sigmoid(a), sigmoid(b)
    stack = LogitStack.fit(y[:3000], [first[:3000], second[:3000]])
    stacked = stack.predict([first[3000:], second[3000:]])
    best_alone = max(roc_auc_score(y[3000:], first[3000:]), roc_auc_score(y[3000:], second[3000:]))
    assert roc_auc_score(y[3000:], stacked) > best_alone + 0.05


def test_the_stack_refuses_one_class_and_a_wrong_number_of_components():
    with pytest.raises(ValueError, match="both classes"):
        LogitStack.fit(np.zeros(10), [np.full(10, 0.3)])
    stack = LogitStack((1.0, 1.0), 0.0)
    with pytest.raises(ValueError, match="2 components, got 1"):
        stack.predict([np.full(3, 0.5)])
