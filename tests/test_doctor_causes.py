"""The doctor's newer words (issue 30, points 2 to 4): the pitfall's sigmoid twin and the softmax
over one unit, exploding and vanishing gradients, saturated units, outputs that cannot reach the
targets, chance from the probe's own targets, and advice that names the cause. Each threshold is
tested on both sides; the numbers on each side are the ones measured (verdict.py says where)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captcha_cnn.doctor import loss_reading as lr
from captcha_cnn.doctor.reading import Reading
from captcha_cnn.doctor.verdict import (
    EXPLODING_FACTOR,
    SATURATED_SHARE,
    VANISHING_RATIO,
    Diagnosis,
    Levels,
    Observation,
)

TEN = Levels(chance_loss=math.log(10), chance_accuracy=0.1)


def judged(levels, observations):
    diagnosis = Diagnosis(levels)
    return [diagnosis.add(observation) for observation in observations]


def grads(first: float, last: float) -> dict:
    return {"dense": first, "dense_1": 0.1, "out": last}


# Exploding: healthy runs grew to 55x their first look's gradient, blow-ups 100x and more.
@pytest.mark.parametrize("growth, kind", [(55.0, "plateau"), (150.0, "exploding")])
def test_exploding_is_a_gradient_grown_past_the_factor_before_the_loss_doubles(growth, kind):
    verdicts = judged(TEN, [Observation(0, 2.30, 0.1, gradients=grads(0.5, 0.4)),
                            Observation(10, 2.31, 0.1, gradients=grads(0.5 * growth, 0.4))])
    assert verdicts[-1].kind == kind
    assert EXPLODING_FACTOR == 100.0


def test_a_divergence_with_exploded_gradients_says_so_and_advises_clipping():
    verdict = judged(TEN, [Observation(0, 2.30, 0.1, gradients=grads(0.5, 0.4)),
                           Observation(10, 9.0, 0.1, gradients=grads(500.0, 0.4))])[-1]
    assert verdict.kind == "diverging"
    assert "1e+03x its first look's (exploding)" in verdict.evidence
    assert verdict.advice.startswith("clip gradients")


# Vanishing: published CNN runs that went on to learn reached a first/last ratio of 7.9e-4;
# ten sigmoid layers 2e-7 to 6e-6.
@pytest.mark.parametrize("ratio, kind", [(7.9e-4, "plateau"), (6e-6, "vanishing")])
def test_vanishing_is_a_first_to_last_ratio_under_the_threshold_at_chance(ratio, kind):
    verdicts = judged(TEN, [Observation(0, 2.30, 0.1, gradients=grads(0.4 * ratio, 0.4))])
    assert verdicts[-1].kind == kind
    assert VANISHING_RATIO == 1e-4


def test_a_network_that_learns_is_not_called_vanishing():
    verdicts = judged(TEN, [Observation(0, 2.30, 0.1, gradients=grads(1e-7, 0.4)),
                            Observation(10, 1.5, 0.6, gradients=grads(1e-7, 0.4))])
    assert [verdict.kind for verdict in verdicts] == ["vanishing", "learning"]


# Saturated: healthy tanh/sigmoid layers 0%, a tanh layer with weights of std 3 (which learns)
# 12.5%, sigmoid biases of +10 (which stall) 100%.
@pytest.mark.parametrize("share, kind", [(0.125, "plateau"), (0.4, "plateau"),
                                         (0.6, "saturated"), (1.0, "saturated")])
def test_saturated_is_half_a_layer_pinned_at_chance(share, kind):
    verdict = judged(TEN, [Observation(0, 2.30, 0.1, gradients=grads(0.1, 0.4),
                                       saturated={"dense": share})])[-1]
    assert verdict.kind == kind
    assert SATURATED_SHARE == 0.5
    if kind == "saturated":
        assert f"{share:.0%} of dense's units are pinned" in verdict.evidence


def test_chance_above_half_is_read_as_errors_removed():
    """A majority class at 90%: 92% is still chance, 96% has removed over half the errors."""
    majority = Levels(chance_loss=0.325, chance_accuracy=0.9)
    start = Observation(0, 0.33, 0.9)
    assert judged(majority, [start, Observation(10, 0.33, 0.92)])[-1].kind == "plateau"
    assert judged(majority, [start, Observation(10, 0.33, 0.96)])[-1].kind == "learning"


def test_chance_from_the_probe_targets_only_when_imbalanced_beyond_noise():
    rng = np.random.default_rng(0)
    balanced = np.eye(10)[rng.integers(0, 10, 128)][:, None, :]
    assert lr.class_chance(balanced) == (0.1, pytest.approx(math.log(10)))
    skewed = np.eye(2)[(rng.random(128) < 0.1).astype(int)][:, None, :]
    accuracy, loss = lr.class_chance(skewed)
    share = skewed[:, 0, 0].mean()
    assert accuracy == pytest.approx(share) and accuracy > 0.8
    assert loss == pytest.approx(-(share * math.log(share) + (1 - share) * math.log(1 - share)))


def sigmoid(values):
    return 1 / (1 + np.exp(-values))


def sigmoid_ce(targets, logits):
    return float((targets * lr.softplus(-logits) + (1 - targets) * lr.softplus(logits)).mean())


def one_hot_probe(rng, count=128, classes=10):
    return np.eye(classes)[rng.integers(0, classes, count)].astype(np.float32)


def test_the_sigmoid_twin_is_read_from_values_with_its_floor():
    """Sigmoid outputs into a sigmoid cross-entropy with logits: one-hot over 10 has the floor
    0.6552 per unit (SCIENCE.md section 12); the right binary cross-entropy is not flagged."""
    rng = np.random.default_rng(1)
    targets = one_hot_probe(rng)
    outputs = sigmoid(rng.normal(size=targets.shape))
    reading = Reading(targets, None, None, ["sigmoid"], "float32")
    levels = reading.read([outputs], sigmoid_ce(targets, outputs))
    assert levels.probabilities_as_logits and levels.probabilities_kind == "sigmoid"
    assert levels.floor == pytest.approx(0.6552, abs=2e-3)  # The probe's own 1-in-10 share.
    assert levels.chance_loss == pytest.approx(math.log(2), abs=1e-6)
    clipped = np.clip(outputs, 1e-7, 1 - 1e-7)
    right = float(-(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped)).mean())
    fine = Reading(targets, None, None, ["sigmoid"], "float32").read([outputs], right)
    assert not fine.probabilities_as_logits


def test_the_binary_sigmoid_twin_floor_mixes_0_3133_and_ln_2_by_the_targets():
    rng = np.random.default_rng(2)
    targets = (rng.random((128, 1)) < 0.5).astype(np.float32)
    outputs = sigmoid(rng.normal(size=targets.shape))
    levels = Reading(targets, None, None, ["sigmoid"], "float32").read(
        [outputs], sigmoid_ce(targets, outputs))
    share = targets.mean()
    assert levels.floor == pytest.approx(share * 0.31326 + (1 - share) * math.log(2), abs=1e-4)


def test_linear_outputs_that_happen_to_lie_in_0_1_are_logits_not_probabilities():
    rng = np.random.default_rng(3)
    targets = one_hot_probe(rng)
    outputs = rng.uniform(0.2, 0.8, size=targets.shape)
    levels = Reading(targets, None, None, ["linear"], "float32").read(
        [outputs], sigmoid_ce(targets, outputs))
    assert not levels.probabilities_as_logits


def test_a_softmax_over_one_unit_is_dead_with_its_own_advice():
    targets = (np.arange(64) % 2).astype(np.float32)[:, None]
    levels = Reading(targets, None, None, ["softmax"], "float32").read([np.ones((64, 1))], 8.0)
    assert levels.one_unit_softmax
    verdict = judged(levels, [Observation(0, 8.0, None, gradients={"dense": 0.0, "out": 0.0})])[0]
    assert verdict.kind == "dead" and "softmax over one unit" in verdict.evidence
    assert verdict.advice.startswith("a softmax over one unit is always 1")


@pytest.mark.parametrize("negative_share, unreachable", [(0.005, False), (0.1, True)])
def test_targets_a_relu_output_cannot_reach(negative_share, unreachable):
    rng = np.random.default_rng(4)
    targets = rng.uniform(0.0, 5.0, size=(1000, 1)).astype(np.float32)
    targets[: int(1000 * negative_share)] *= -1
    levels = Reading(targets, None, None, ["relu"], "float32").read([np.abs(targets)], 1.0)
    assert bool(levels.unreachable) == unreachable
    if unreachable:
        assert "comes out of a relu, which reaches only [0, inf]" in levels.unreachable
        assert judged(levels, [Observation(0, 1.0)])[0].kind == "unreachable_targets"


def test_labels_of_minus_one_for_a_sigmoid_output_are_unreachable():
    targets = np.where(np.arange(64) % 2, 1.0, -1.0).astype(np.float32)[:, None]
    levels = Reading(targets, None, None, ["sigmoid"], "float32").read(
        [np.full((64, 1), 0.5)], 0.7)
    assert "50% of the probe's targets lie outside" in levels.unreachable


# Advice that fits the measured cause.
def dead_obs(step, biases=None):
    return Observation(step, 2.3026, 0.1, dead={"conv1": 1.0}, biases=biases or {},
                       gradients={"conv1": 0.0, "logits": 0.02})


def test_dead_from_the_start_with_negative_biases_says_so():
    verdict = judged(TEN, [dead_obs(0, {"conv1": -10.0})])[0]
    assert "the biases of conv1 are negative (mean -10)" in verdict.advice


def test_units_that_die_after_training_began_advise_a_lower_learning_rate():
    alive = Observation(0, 2.3026, 0.1, dead={"conv1": 0.2}, gradients={"conv1": 0.1,
                                                                         "logits": 0.02})
    verdict = judged(TEN, [alive, dead_obs(100)])[-1]
    assert verdict.kind == "dead" and "lower learning rate" in verdict.advice


def test_a_network_dead_while_fed_probabilities_names_the_probabilities_first():
    buggy = Levels(chance_loss=math.log(10), chance_accuracy=0.1, floor=1.461,
                   probabilities_as_logits=True)
    verdict = judged(buggy, [Observation(0, 2.3026, 0.1, gradients={"conv1": 0.1}),
                             dead_obs(600)])[-1]
    assert verdict.kind == "dead"
    assert verdict.advice.startswith("first give the loss logits (remove the softmax")
    assert "restarting alone would die again" in verdict.advice


def test_the_sigmoid_twin_advice_speaks_of_the_sigmoid():
    twin = Levels(chance_loss=math.log(2), floor=0.6552, probabilities_as_logits=True,
                  probabilities_kind="sigmoid")
    verdict = judged(twin, [Observation(0, 0.924, 0.1)])[0]
    assert verdict.kind == "probabilities_as_logits"
    assert "sigmoid outputs into a sigmoid cross-entropy" in verdict.evidence
    assert verdict.advice.startswith("remove the sigmoid before the loss")


# The same, on real fits (scikit-learn's digits as 64 features).
@pytest.fixture(scope="module")
def flat_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    return (data.images / 16.0).reshape(-1, 64).astype(np.float32), data.target


def fit_for_verdicts(layers, loss, x, y, epochs=2, optimizer="adam", held_out=False):
    import keras

    from captcha_cnn.doctor import Doctor

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), *layers])
    model.compile(optimizer, loss)
    doctor = Doctor(probe=(x[-128:], y[-128:]) if held_out else (x[:128], y[:128]), every=20,
                    verbose=False)
    train = slice(0, -128) if held_out else slice(None)
    model.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0, callbacks=[doctor])
    return doctor


def one_hot(labels):
    return np.eye(10, dtype=np.float32)[labels]


@pytest.mark.slow
def test_ten_sigmoid_layers_are_vanishing_and_sigmoid_biases_of_10_saturated(flat_digits):
    import keras

    x, labels = flat_digits
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    deep = [keras.layers.Dense(32, activation="sigmoid") for _ in range(10)]
    doctor = fit_for_verdicts([*deep, keras.layers.Dense(10)], loss, x, one_hot(labels),
                              optimizer=keras.optimizers.SGD(0.1))
    assert {verdict.kind for verdict in doctor.history} == {"vanishing"}
    pinned = [keras.layers.Dense(64, activation="sigmoid",
                                 bias_initializer=keras.initializers.Constant(10.0)),
              keras.layers.Dense(64, activation="sigmoid",
                                 bias_initializer=keras.initializers.Constant(10.0))]
    doctor = fit_for_verdicts([*pinned, keras.layers.Dense(10)], loss, x, one_hot(labels))
    assert {verdict.kind for verdict in doctor.history} == {"saturated"}


@pytest.mark.slow
def test_the_forms_of_the_pitfall_at_step_0(flat_digits):
    import keras
    import tensorflow as tf

    x, labels = flat_digits
    hidden = lambda: keras.layers.Dense(32, activation="relu")  # noqa: E731
    twin = fit_for_verdicts([hidden(), keras.layers.Dense(10, activation="sigmoid")],
                            lambda t, p: tf.nn.sigmoid_cross_entropy_with_logits(t, p), x,
                            one_hot(labels), epochs=1)
    assert twin.history[0].kind == "probabilities_as_logits"
    assert "floor of 0.65" in twin.history[0].evidence
    binary = (labels >= 5).astype(np.float32)[:, None]
    single = fit_for_verdicts([hidden(), keras.layers.Dense(1, activation="softmax")],
                              "binary_crossentropy", x, binary, epochs=1)
    assert single.history[0].kind == "dead" and single.verdict.kind == "dead"
    assert single.verdict.advice.startswith("a softmax over one unit is always 1")
    unreachable = fit_for_verdicts([hidden(), keras.layers.Dense(1, activation="relu")], "mse",
                                   x, (labels - 4.5).astype(np.float32)[:, None], epochs=1)
    assert unreachable.history[0].kind == "unreachable_targets"


@pytest.mark.slow
def test_a_majority_class_is_not_learning(flat_digits):
    """Inputs that say nothing, labels 90% one class: predicting the majority is chance (on a
    held-out probe: on training examples the network memorises the noise, which is learning)."""
    import keras

    x, labels = flat_digits
    noise = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    rare = (labels == 0).astype(np.int32)
    doctor = fit_for_verdicts([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)],
                              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              noise, rare, epochs=2, held_out=True)
    assert "learning" not in {verdict.kind for verdict in doctor.history}
    assert doctor.observations[-1].accuracy > 0.85  # The majority class, learned.
    assert "(chance 8" in doctor.verdict.evidence or "(chance 9" in doctor.verdict.evidence


@pytest.mark.slow
def test_a_regression_that_blows_up_is_diverging_with_its_exploded_gradients():
    """scikit-learn's diabetes targets (25 to 346) on raw scale, SGD 1e-3: by step 6 the largest
    gradient is hundreds of times its first look's (measured 551x) as the loss jumps."""
    import keras

    from captcha_cnn.doctor import Doctor

    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_diabetes()
    x, y = (data.data * 10).astype(np.float32), data.target.astype(np.float32)[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,)),
                              *[keras.layers.Dense(64, activation="relu") for _ in range(3)],
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    doctor = Doctor(probe=(x[:128], y[:128]), every=2, verbose=False)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[doctor])
    first = next(verdict for verdict in doctor.history if verdict.kind == "diverging")
    assert "(exploding)" in first.evidence and first.advice.startswith("clip gradients")
    assert first.at <= 10
