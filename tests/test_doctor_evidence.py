"""The doctor's rules for the failures the panel's real programs showed (issue 30): a ReLU output
whose units never fire, ReLUs that die while the loss falls only to what a constant output gets,
sigmoid units pinned for most inputs of very different sizes, a gradient that grows while the
loss falls (not exploding), a vanishing gradient that one look's noise does not end, and advice
that names raw inputs and an overflow before any training. Each threshold on both sides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captcha_cnn.doctor import loss_reading as lr
from captcha_cnn.doctor.advice import RAW_INPUT_SCALE
from captcha_cnn.doctor.reading import Reading
from captcha_cnn.doctor.verdict import (
    FLAT_OUTPUT_SPREAD,
    PINNED_SHARE,
    RISING_SHARE,
    VANISHING_RATIO,
    WEAK_VANISHING_RATIO,
    Diagnosis,
    Levels,
    Observation,
)

TEN = Levels(chance_loss=math.log(10), chance_accuracy=0.1)
THREE = Levels(chance_loss=math.log(3), chance_accuracy=1 / 3)


def kinds(levels, observations):
    diagnosis = Diagnosis(levels)
    return [diagnosis.add(observation).kind for observation in observations], diagnosis


# A ReLU output unit that never fires: dead, even when the other outputs learn.
@pytest.mark.parametrize("share, kind", [(0.0, "learning"), (1 / 3, "dead")])
def test_a_relu_output_unit_that_never_fires_is_dead_even_above_chance(share, kind):
    verdicts, diagnosis = kinds(THREE, [
        Observation(0, 1.10, 0.33, dead_outputs={"out": 0.0}),
        Observation(50, 0.60, 0.70, dead_outputs={"out": share})])
    assert verdicts[-1] == kind
    if kind == "dead":
        verdict = diagnosis.verdict
        assert "33% of the units of the ReLU output out never fire" in verdict.evidence
        assert "use softmax for classes, sigmoid for 0/1 targets, linear for values" \
            in verdict.advice


# Exploding warns only while the loss is not falling: a BatchNormalization CNN's gradient grew
# 128x as its loss fell to its lowest; a loss 10% above its lowest with the same growth warns.
@pytest.mark.parametrize("loss, kind", [(1.0, "learning"), (1.0 * (1 + RISING_SHARE) + 0.01,
                                                             "exploding")])
def test_a_grown_gradient_is_exploding_only_while_the_loss_is_not_falling(loss, kind):
    grads = lambda norm: {"conv": norm, "out": norm}  # noqa: E731
    verdicts, _ = kinds(TEN, [Observation(0, 2.30, 0.1, gradients=grads(0.04)),
                              Observation(100, 1.0, 0.8, gradients=grads(1.0)),
                              Observation(200, loss, 0.8, gradients=grads(5.5))])
    assert verdicts[-1] == kind


# A loss fed targets its outputs cannot reach falls below 0 (Stack Overflow 50079585: 0.74 to
# -80): near its lowest it is falling, not exploding, though 10% of -85 is a lower number.
@pytest.mark.parametrize("loss, kind", [(-80.0, "learning"), (-70.0, "exploding")])
def test_a_negative_loss_near_its_lowest_is_falling(loss, kind):
    grads = lambda norm: {"conv": norm, "out": norm}  # noqa: E731
    verdicts, _ = kinds(TEN, [Observation(0, 0.74, 0.1, gradients=grads(0.04)),
                              Observation(100, -85.0, 0.8, gradients=grads(1.0)),
                              Observation(200, loss, 0.8, gradients=grads(5.5))])
    assert verdicts[-1] == kind


# Pinned (input, unit) pairs: healthy first looks 0.14 at most, inputs of +-100 0.53.
@pytest.mark.parametrize("share, first, later", [(0.14, "plateau", "plateau"),
                                                 (0.35, "plateau", "saturated"),
                                                 (0.53, "saturated", "saturated")])
def test_units_pinned_for_most_inputs_are_saturated(share, first, later):
    """Half the pairs at any look; from PINNED_SHARE once the loss has sat still."""
    look = lambda step: Observation(step, 1.3e15, None, gradients={"a": 1.0, "b": 1.0},  # noqa: E731
                                    pinned={"sigmoid": share})
    verdicts, diagnosis = kinds(Levels(chance_loss=1.2e15), [look(0), look(15)])
    assert verdicts == [first, later]
    assert PINNED_SHARE == 0.3
    if later == "saturated":
        assert f"pinned at a bound for {share:.0%} of (probe input, unit) pairs" \
            in diagnosis.history[-1].evidence


def test_pinned_pairs_while_the_loss_falls_from_its_start_are_not_saturated():
    """Stack Overflow 48221692's fix: its sigmoid units pin for a third of the inputs while the
    loss falls from 2,400 towards the targets' variance (889), then it learns."""
    look = lambda step, loss: Observation(step, loss, None, gradients={"a": 1.0, "b": 1.0},  # noqa: E731
                                          pinned={"sigmoid": 0.35})
    verdicts, _ = kinds(Levels(chance_loss=889.0), [look(0, 2400.0), look(30, 1500.0)])
    assert verdicts == ["plateau", "plateau"]


def test_exactly_zero_gradient_behind_pinned_units_is_saturated_not_a_cut_graph():
    """Stack Overflow 33969059's fix: inputs up to 10,000 pin tanh units so hard that the first
    layer's gradient is exactly 0 in float32; the cause is the pinning, not the graph."""
    look = Observation(0, 3.5e8, None, gradients={"dense": 0.0, "out": 5.0},
                       saturated={"tanh": 0.33}, pinned={"tanh": 0.99})
    verdict = Diagnosis(Levels(chance_loss=4.4e7, input_scale=1e4)).add(look)
    assert verdict.kind == "saturated"
    assert "dense get exactly 0 gradient because tanh is pinned" in verdict.evidence
    assert verdict.advice.startswith("first scale the inputs to about unit range")
    cut = Observation(0, 2.3, 0.1, gradients={"dense": 0.0, "out": 5.0})
    assert Diagnosis(TEN).add(cut).kind == "dead"


def test_a_run_that_saturated_stays_saturated_until_it_leaves_chance():
    """Stack Overflow 52800582: Adam shrinks the weights that pinned the units by step 120, yet
    the loss never moves."""
    look = lambda step, share, loss: Observation(  # noqa: E731
        step, loss, None, gradients={"a": 1.0, "b": 1.0}, pinned={"sigmoid": share})
    levels = Levels(chance_loss=1.2e15)
    verdicts, diagnosis = kinds(levels, [look(0, 0.4, 1.3e15), look(15, 0.4, 1.3e15),
                                         look(120, 0.0, 1.3e15), look(300, 0.0, 1e14)])
    assert verdicts == ["plateau", "saturated", "saturated", "learning"]
    assert "since the units were pinned (step 15)" in diagnosis.history[2].evidence


def test_once_vanishing_a_ratio_under_ten_times_the_threshold_keeps_it():
    look = lambda step, ratio: Observation(step, 0.693, 0.5,  # noqa: E731
                                           gradients={"first": 0.04 * ratio, "last": 0.04})
    levels = Levels(chance_loss=math.log(2), chance_accuracy=0.5)
    verdicts, _ = kinds(levels, [look(0, 2e-6), look(22, 3 * VANISHING_RATIO),
                                 look(44, 20 * VANISHING_RATIO)])
    assert verdicts == ["vanishing", "vanishing", "plateau"]
    assert kinds(levels, [look(0, 3 * VANISHING_RATIO)])[0] == ["plateau"]


# Value targets: the loss is read against the best constant output, not where it started.
def test_a_squared_error_is_judged_against_the_targets_variance():
    rng = np.random.default_rng(0)
    targets = (50 + 30 * rng.standard_normal((128, 1))).astype(np.float32)
    outputs = np.zeros_like(targets, dtype=np.float64)
    mse = float(np.mean((targets - outputs) ** 2))
    reading = Reading(targets, None, None, ["linear"], "float32")
    levels = reading.read([outputs], mse)
    assert levels.chance_loss == pytest.approx(float(targets.var()), rel=1e-6)
    assert "best constant output's" in reading.notes[0]
    # Dead ReLUs and a loss that fell from 2,985 only to the variance: dead, not learning.
    at_variance = levels.chance_loss * 1.001
    verdicts, _ = kinds(levels, [Observation(0, mse, dead={"relu": 0.4}),
                                 Observation(4, at_variance, dead={"relu": 1.0})])
    assert verdicts == ["plateau", "dead"]
    assert kinds(levels, [Observation(0, mse), Observation(4, 0.5 * at_variance)])[0][-1] \
        == "learning"


def test_an_absolute_error_is_judged_against_the_distance_from_the_median():
    targets = np.array([[1.0], [2.0], [3.0], [10.0]] * 4, dtype=np.float32)
    outputs = np.full_like(targets, 0.5, dtype=np.float64)
    levels = Reading(targets, None, None, ["linear"], "float32").read(
        [outputs], float(np.mean(np.abs(targets - 0.5))))
    assert levels.chance_loss == pytest.approx(np.mean(np.abs(targets - 2.5)))


def test_another_loss_on_value_targets_is_judged_against_where_it_started():
    targets = np.linspace(0, 1, 64, dtype=np.float32)[:, None]
    reading = Reading(targets, None, None, ["linear"], "float32")
    assert reading.read([np.zeros((64, 1))], 123.0).chance_loss is None
    assert "not a plain squared or absolute error" in reading.notes[0]


def test_keras_cross_entropy_on_relu_outputs_is_read_as_keras_reads_it():
    """Keras divides non-negative outputs by their sum and clips: ReLU outputs with zeros are a
    plain cross-entropy to it, with chance ln 3, not 'another loss'."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    targets = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]
    outputs = np.maximum(rng.normal(0.5, 1.0, (96, 3)), 0.0).astype(np.float32)
    outputs[:, 0] += 0.1  # Keras gives NaN for a row of zeros (0 / 0): none here.
    outputs[:, 2] = 0.0  # A unit that never fires.
    loss = float(keras.losses.CategoricalCrossentropy()(targets, outputs))
    reading = Reading(targets, None, None, ["relu"], "float32")
    levels = reading.read([outputs.astype(np.float64)], loss)
    assert levels.chance_loss == pytest.approx(math.log(3), abs=0.1)
    assert not reading.notes
    assert lr.KERAS_EPSILON == keras.config.epsilon()


# Advice: raw inputs first; a loss not finite before any training is an overflow.
@pytest.mark.parametrize("scale, named", [(RAW_INPUT_SCALE, False), (3.2e9, True)])
def test_raw_inputs_are_named_first_in_the_advice(scale, named):
    levels = Levels(chance_loss=math.log(2), chance_accuracy=0.5, input_scale=scale)
    nan_first = Diagnosis(levels).add(Observation(0, float("nan"), 0.5))
    assert nan_first.kind == "diverging"
    assert "not finite before any training step" in nan_first.advice
    assert "lower the learning rate" not in nan_first.advice
    assert ("the probe's reach 3.2e+09" in nan_first.advice) == named
    dead = Diagnosis(levels).add(Observation(0, 0.69, 0.5, dead_outputs={"out": 1.0}))
    assert dead.advice.startswith("first scale the inputs") == named


def test_a_nan_after_training_began_still_advises_a_lower_learning_rate():
    diagnosis = Diagnosis(TEN)
    diagnosis.add(Observation(0, 2.30, 0.1))
    assert diagnosis.add(Observation(40, float("nan"))).advice.startswith(
        "lower the learning rate")


# A classifier still at chance after training began, its loss BLOWN_FACTOR times a uniform
# guess's: confidently wrong (Stack Overflow 47724077's raw inputs: 90 to 700x for 300 steps).
@pytest.mark.parametrize("loss, kind", [(0.69 * 9, "plateau"), (0.69 * 11, "diverging")])
def test_a_classifier_far_above_a_uniform_guess_after_training_began_is_diverging(loss, kind):
    levels = Levels(chance_loss=0.57, chance_accuracy=0.74, uniform_loss=math.log(2),
                    input_scale=5e5)
    verdicts, diagnosis = kinds(levels, [Observation(0, 3.4e4, 0.26), Observation(15, loss, 0.74)])
    assert verdicts == ["plateau", kind]
    if kind == "diverging":
        assert "within 10x a uniform guess's (0.693)" in diagnosis.verdict.evidence
        assert diagnosis.verdict.advice.startswith("first scale the inputs to about unit range "
                                                   "(the probe's reach 5e+05); then lower the "
                                                   "learning rate")
    # Before any training the same loss is the first look's: not judged (a start, not a trend).
    assert kinds(levels, [Observation(0, loss, 0.26)])[0] == ["plateau"]


def test_an_unmatched_loss_is_judged_against_the_lower_mean_chance():
    """A loss above every plain reading, whose reduction is unknown: the per-unit (mean) chance
    is its bound, so a summed chance cannot call a dead network's falling loss 'learning'."""
    rng = np.random.default_rng(3)
    targets = np.eye(2, dtype=np.float32)[(rng.random(128) < 0.25).astype(int)]
    outputs = np.tile([[0.74, 0.26]], (128, 1))
    reading = Reading(targets, None, None, ["softmax"], "float32")
    levels = reading.read([outputs], 500.0)
    # Nearest here: sigmoid logits held in [0, 1] (its best constant, per unit); summed over the
    # two units it would be twice that.
    assert levels.chance_loss == pytest.approx(lr.twin_levels(targets)[0])
    assert "judged against the targets' chance level" in reading.notes[0]


# A weak ratio with flat outputs, once the loss sat still: Stack Overflow 39217567's three
# sigmoid layers (N(0, 0.05) weights) 1.3e-3 with outputs varying 5e-5 as much as the targets;
# its fix (ReLU layers) 0.015 and 2.5e-4. Outputs that vary, or a first look, are not judged.
@pytest.mark.parametrize("ratio, spread, later", [
    (1.3e-3, 5e-5, "vanishing"), (1.3e-3, None, "plateau"), (1.3e-3, 2e-3, "plateau"),
    (WEAK_VANISHING_RATIO * 1.1, 5e-5, "plateau"), (0.015, 2.5e-4, "plateau")])
def test_a_weak_ratio_with_flat_outputs_is_vanishing(ratio, spread, later):
    look = lambda step: Observation(step, 0.25, 0.5, gradients={"first": ratio, "last": 1.0},  # noqa: E731
                                    output_spread=spread)
    verdicts, diagnosis = kinds(Levels(chance_loss=0.25, chance_accuracy=0.5), [look(0), look(6)])
    assert verdicts == ["plateau", later]
    if later == "vanishing":
        assert "the outputs barely depend on the input (they vary 5e-05 as much as the " \
               "targets)" in diagnosis.verdict.evidence
        assert FLAT_OUTPUT_SPREAD == 1e-3


def test_the_output_spread_is_a_share_of_the_targets_spread():
    targets = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    reading = Reading(targets, None, None, ["sigmoid"], "float32")
    outputs = np.array([[0.5, 0.5], [0.5, 0.502], [0.5, 0.5], [0.5, 0.502]])
    assert reading.spread([outputs]) == pytest.approx(0.001 / 0.5)  # std 0.001 against 0.5
    assert reading.spread([np.full((4, 2), 0.5)]) == 0.0
    assert reading.spread([outputs, outputs]) is None  # Several outputs: not measured.
    assert Reading(np.ones((4, 2), np.float32), None, None, ["sigmoid"],
                   "float32").spread([outputs]) is None  # Targets that do not vary.
