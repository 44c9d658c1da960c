"""The losses against the seed's numbers (docs/seed.md section 1), and their gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from captcha_cnn.core import config_rules
from captcha_cnn.model.levels import loss_levels
from captcha_cnn.model.losses import LOSSES, per_example_loss, pull_to_uniform

CASE1_LABELS = [[0.2, 0.3, 0.5]]
CASE1_LOGITS = [[2.0, 0.5, 1.0]]
CASE2_LABELS = [[1.0 if i in (3, 15, 21, 37) else 0.0 for i in range(40)]]
CASE2_LOGITS = [[
    5.414214045506107, 1.0364190761952838, 1.0931452034494957, 3.894246202026429,
    2.3824730004342136, 5.965072403073978, 2.076533529367469, 1.4828656147245602,
    2.3414934241076537, 3.5602012920818584, 0.11375485316768152, 3.450451299129589,
    2.8094892586761437, 1.788879710725854, 2.80663522176181, 4.924723247878252,
    2.4961140164238786, 5.9613323377434995, 0.7989157311136863, 4.2635188203807335,
    3.4873045567789664, 5.11255294433231, 3.2693959007989832, 4.490670418324648,
    1.6669091076779448, 5.747519715144237, 1.4899624466441748, 4.077105711625433,
    0.1835752962824988, 5.337763177515887, 5.809078207371751, 3.070040261173903,
    2.4653770382715177, 0.03311200569409323, 3.3492673710270733, 3.477621449855114,
    3.63523160480906, 2.312116025458221, 0.45082654327315574, 0.4283251243179722]]


def written_out_cross_entropy(labels, logits):
    """The seed's result2: -sum(labels * log(softmax(logits)))."""
    return -tf.reduce_sum(labels * tf.math.log(tf.nn.softmax(logits)), axis=-1)


@pytest.mark.parametrize("labels, logits, correct, buggy", [
    (CASE1_LABELS, CASE1_LOGITS, 1.41436878, 1.17185777),
    (CASE2_LABELS, CASE2_LOGITS, 15.51456065, 14.72931443),
])
def test_seed_numbers(labels, logits, correct, buggy):
    labels, logits = tf.constant(labels, tf.float64), tf.constant(logits, tf.float64)
    assert LOSSES["logits"](labels, logits).numpy()[0] == pytest.approx(correct, rel=1e-7)
    assert written_out_cross_entropy(labels, logits).numpy()[0] == pytest.approx(correct, rel=1e-7)
    assert LOSSES["softmax_then_logits"](labels, logits).numpy()[0] == pytest.approx(buggy, rel=1e-7)
    # float32, as in training, agrees to about 1e-6.
    as32 = LOSSES["softmax_then_logits"](tf.cast(labels, tf.float32), tf.cast(logits, tf.float32))
    assert as32.numpy()[0] == pytest.approx(buggy, rel=1e-5)


def test_buggy_loss_is_a_double_softmax_in_plain_numpy():
    """Nothing (such as Keras's logit recovery) may quietly repair the bug."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 10))
    labels = np.eye(10)[rng.integers(0, 10, size=5)]
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    q = np.exp(p) / np.exp(p).sum(-1, keepdims=True)
    expected = -(labels * np.log(q)).sum(-1)
    assert np.allclose(LOSSES["softmax_then_logits"](labels, logits).numpy(), expected)


def test_sigmoid_loss_is_the_mean_binary_cross_entropy():
    labels = np.array([[1.0, 0.0, 0.0, 1.0]])
    logits = np.array([[2.0, -1.0, 0.5, 0.0]])
    p = 1 / (1 + np.exp(-logits))
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(-1)
    assert np.allclose(LOSSES["sigmoid"](labels, logits).numpy(), expected)


def gradients(loss_name, layout, labels, logits, length):
    logits = tf.Variable(logits, dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(per_example_loss(loss_name, layout, tf.constant(labels, tf.float64),
                                              logits, length))
    return tape.gradient(loss, logits).numpy()


def written_out_gradients(loss_fn, labels, logits):
    logits = tf.Variable(logits, dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(loss_fn(tf.constant(labels, tf.float64), logits))
    return tape.gradient(loss, logits).numpy()


def test_per_char_gradients_match_autodiff_of_the_written_out_formula():
    rng = np.random.default_rng(1)
    labels = np.eye(10)[rng.integers(0, 10, size=(3, 4))].reshape(3, 40)
    logits = rng.normal(size=(3, 40))

    def per_char(labels, logits):
        blocks = written_out_cross_entropy(tf.reshape(labels, [-1, 4, 10]),
                                           tf.reshape(logits, [-1, 4, 10]))
        return tf.reduce_mean(blocks, axis=-1)

    def per_char_buggy(labels, logits):
        probabilities = tf.nn.softmax(tf.reshape(logits, [-1, 4, 10]))
        blocks = written_out_cross_entropy(tf.reshape(labels, [-1, 4, 10]), probabilities)
        return tf.reduce_mean(blocks, axis=-1)

    assert np.allclose(gradients("logits", "per_char", labels, logits, 4),
                       written_out_gradients(per_char, labels, logits))
    assert np.allclose(gradients("softmax_then_logits", "per_char", labels, logits, 4),
                       written_out_gradients(per_char_buggy, labels, logits))


def test_flat_multi_hot_gradient_is_wrong_exactly_as_measured_on_tf_2_21():
    """TensorFlow's fused op returns softmax(z) - labels, not the loss's true gradient."""
    labels, logits = [[1.0, 1.0, 0.0, 0.0]], [[1.0, 2.0, 0.5, 0.0]]
    fused = gradients("logits", "flat", labels, logits, length=2)
    true = written_out_gradients(written_out_cross_entropy, labels, logits)
    assert np.allclose(fused, [[-0.787, -0.421, 0.129, 0.078]], atol=1e-3)
    assert np.allclose(true, [[-0.574, 0.159, 0.259, 0.157]], atol=1e-3)
    assert fused.sum() == pytest.approx(1 - 2)
    # Normalised labels (rows sum to 1) make the fused gradient true again.
    normalized = gradients("logits", "flat_normalized", labels, logits, length=2)
    true_normalized = written_out_gradients(
        lambda y, z: written_out_cross_entropy(y / 2, z), labels, logits)
    assert np.allclose(normalized, true_normalized)


def test_the_loss_is_tf_nn_softmax_cross_entropy_with_logits():
    rng = np.random.default_rng(3)
    labels = np.eye(10)[rng.integers(0, 10, size=(6, 4))]
    logits = rng.normal(size=(6, 4, 10))
    ours = LOSSES["logits"](tf.constant(labels), tf.constant(logits)).numpy()
    theirs = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits).numpy()
    assert ours.shape == (6, 4) and np.allclose(ours, theirs)


DETERMINISM_PROBE = """
import tensorflow as tf
from captcha_cnn.model.losses import LOSSES
tf.config.experimental.enable_op_determinism()
labels, logits = tf.constant([[1.0, 1.0, 0.0, 0.0]]), tf.Variable([[1.0, 2.0, 0.5, 0.0]])
for name, loss in (("tf.nn", tf.nn.softmax_cross_entropy_with_logits), ("ours", LOSSES["logits"])):
    with tf.GradientTape() as tape:
        value = loss(labels=labels, logits=logits) if name == "tf.nn" else loss(labels, logits)
    print(name, [round(float(g), 3) for g in tape.gradient(value, logits)[0]])
"""


@pytest.mark.slow
def test_op_determinism_changes_tf_nn_gradient_but_not_ours():
    """With op determinism on, tf.nn's wrapper bypasses the fused kernel and its multi-hot
    gradient becomes the true one; our loss keeps the seed's fused kernel either way. A fresh
    process, because op determinism cannot be turned off once on."""
    import subprocess
    import sys

    output = subprocess.run([sys.executable, "-c", DETERMINISM_PROBE], capture_output=True,
                            text=True, check=True).stdout
    assert "tf.nn [-0.574, 0.159, 0.259, 0.157]" in output
    assert "ours [-0.787, -0.421, 0.129, 0.078]" in output


def test_layouts_report_the_loss_on_their_own_scale():
    labels = tf.constant(CASE2_LABELS, tf.float64)
    zeros = tf.zeros_like(labels)
    assert per_example_loss("logits", "per_char", labels, zeros, 4).numpy()[0] == \
        pytest.approx(math.log(10))
    assert per_example_loss("logits", "flat", labels, zeros, 4).numpy()[0] == \
        pytest.approx(4 * math.log(40))
    assert per_example_loss("logits", "flat_normalized", labels, zeros, 4).numpy()[0] == \
        pytest.approx(math.log(40))


def test_levels_for_ten_and_sixteen_classes():
    ten = loss_levels("softmax_then_logits", "per_char", 4, 10)
    assert ten["chance"] == pytest.approx(2.302585, abs=1e-6)
    assert ten["floor"] == pytest.approx(-math.log(math.e / (math.e + 9)))
    assert ten["floor"] == pytest.approx(1.4612, abs=1e-4)
    sixteen = loss_levels("softmax_then_logits", "per_char", 5, 16)
    assert sixteen["floor"] == pytest.approx(-math.log(math.e / (math.e + 15)))
    assert sixteen["chance"] == pytest.approx(math.log(16))
    flat = loss_levels("softmax_then_logits", "flat", 4, 10)
    assert flat["floor"] == pytest.approx(13.868, abs=1e-3)
    assert flat["chance"] == pytest.approx(14.756, abs=1e-3)
    assert loss_levels("logits", "per_char", 4, 10)["floor"] == 0.0
    assert loss_levels("logits", "flat", 4, 10)["floor"] == pytest.approx(4 * math.log(4))
    assert loss_levels("logits", "flat_normalized", 4, 10)["floor"] == pytest.approx(math.log(4))


@pytest.mark.parametrize("layout", ["per_char", "flat", "flat_normalized"])
def test_buggy_loss_never_goes_below_its_floor(layout):
    """Push the logits hard toward the labels: the buggy loss approaches its floor from above."""
    rng = np.random.default_rng(2)
    labels = np.eye(10)[rng.integers(0, 10, size=(64, 4))].reshape(64, 40)
    floor = loss_levels("softmax_then_logits", layout, 4, 10)["floor"]
    for scale in (0.0, 1.0, 10.0, 100.0):
        logits = scale * labels + rng.normal(size=labels.shape)
        values = per_example_loss("softmax_then_logits", layout, tf.constant(labels),
                                  tf.constant(logits), 4).numpy()
        assert (values >= floor - 1e-9).all()
    # With saturated logits the floor is reached (within the noise's uneven split of the mass).
    assert values.min() == pytest.approx(floor, abs=1e-3)


def test_registry_names_match_the_config_schema():
    from captcha_cnn.model.networks import MODELS

    assert tuple(LOSSES) == config_rules.LOSS_NAMES
    assert tuple(MODELS) == config_rules.MODEL_NAMES


@pytest.mark.parametrize("classes", [10, 16])
def test_at_uniform_outputs_the_buggy_gradient_is_the_correct_one_divided_by_k(classes):
    """Same direction, 1/K the size: plain SGD takes K times smaller steps with the bug, while
    Adam, which divides each step by the gradient's own scale, takes the same first steps."""
    labels = np.eye(classes)[[[1, 3, 0, 2]]].reshape(1, 4 * classes)
    zeros = np.zeros_like(labels)
    correct = gradients("logits", "per_char", labels, zeros, 4)
    buggy = gradients("softmax_then_logits", "per_char", labels, zeros, 4)
    assert np.allclose(buggy, correct / classes)


def test_the_report_measures_the_flat_trap_on_the_op_itself():
    from captcha_cnn.core.config import find_config
    from captcha_cnn.experiments.report import flat_layout_section
    from captcha_cnn.experiments.reproduce_plan import read_plan

    plan = read_plan(find_config("reproduce.yaml"))
    table = flat_layout_section(4, 10, plan.wording["flat_layout"], plan.claim.fields())
    assert "Here it sums to -3, and at the floor" in table  # The plan's words, filled.
    # At the start: softmax 1/40 everywhere. Fused: 1/40 - 1 on a true class, rows sum to 1 - 4.
    # True: 4/40 - 1 on a true class, rows sum to 0.
    assert "| start (all logits 0) | 14.756 | -0.975 / +0.025 / -3.000 | " \
           "-0.900 / +0.100 / +0.000 |" in table
    # Fitted (1/4 on each true class): the true gradient vanishes, the fused one does not.
    assert "| 5.547 | -0.750 / +0.000 / -3.000 |" in table


def test_the_prior_pull_is_the_cross_entropy_against_uniform_labels():
    """ln K at uniform outputs, and a gradient of softmax - 1/K per character (divided by the
    number of characters, over which it is averaged): the correct loss's mean pull."""
    logits = tf.constant(np.random.default_rng(0).normal(size=(3, 40)), tf.float32)
    assert pull_to_uniform(tf.zeros((1, 40)), 4).numpy() == pytest.approx([math.log(10)])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        pull = tf.reduce_sum(pull_to_uniform(logits, 4))
    softmax = tf.nn.softmax(tf.reshape(logits, (3, 4, 10))).numpy().reshape(3, 40)
    np.testing.assert_allclose(tape.gradient(pull, logits).numpy(), (softmax - 0.1) / 4,
                               atol=1e-7)



def test_the_prior_pull_changes_the_update_but_not_the_reported_loss(smoke_config):
    import keras

    from captcha_cnn.model.networks import build_model
    from captcha_cnn.train.steps import make_train_step

    config = smoke_config("loss.name=softmax_then_logits", "model.dropout=0")  # Same forward pass.
    model = build_model(config)
    start = [variable.numpy() for variable in model.trainable_variables]
    images = tf.random.stateless_uniform((8, 16, 48, 1), seed=(1, 2))
    labels = tf.reshape(tf.one_hot(tf.range(32) % 10, 10), (8, 40))
    signals, moved = [], []
    for pull in (0.0, 0.09):
        for variable, value in zip(model.trainable_variables, start, strict=True):
            variable.assign(value)
        optimizer = keras.optimizers.SGD(0.1)
        step = make_train_step(model, optimizer, "softmax_then_logits", "per_char", 4,
                               prior_pull=pull)
        signals.append({k: float(v) for k, v in step(images, labels).items()})
        moved.append([v.numpy() for v in model.trainable_variables])
    assert signals[0]["train_loss"] == pytest.approx(signals[1]["train_loss"], rel=1e-6)
    assert signals[1]["grad_norm"] != pytest.approx(signals[0]["grad_norm"], rel=1e-3)
    assert not np.allclose(moved[0][-1], moved[1][-1])  # The logits layer's bias moved differently.


def test_the_sigmoid_twin_feeds_sigmoid_outputs_as_logits_and_pins_its_levels():
    """SCIENCE.md section 12: per unit the floor is 0.3133 for a target of 1, ln 2 for a target of
    0; one-hot over 10 gives 0.6552 per unit, and zero outputs (p = 0.5) give 0.924."""
    labels = np.array([[1.0, 0.0]])
    saturated = per_example_loss("sigmoid_then_logits", "flat",
                                 tf.constant([[1.0, 0.0]]), tf.constant([[50.0, -50.0]]), 1)
    assert float(saturated[0]) == pytest.approx((0.3133 + 0.6931) / 2, abs=1e-4)
    expected = LOSSES["sigmoid"](labels, 1 / (1 + np.exp(-np.array([[50.0, -50.0]]))))
    assert np.allclose(saturated.numpy(), expected.numpy())
    for layout in ("per_char", "flat"):
        levels = loss_levels("sigmoid_then_logits", layout, 4, 10)
        assert levels["floor"] == pytest.approx(0.6552, abs=1e-4)
        assert levels["chance"] == pytest.approx(0.9241, abs=1e-4)
    assert loss_levels("sigmoid_then_logits", "per_char", 4, 10)["constant"] == \
        pytest.approx(math.log(2))
    assert loss_levels("sigmoid", "per_char", 4, 10) == {
        "chance": pytest.approx(math.log(2)), "floor": 0.0,
        "constant": pytest.approx(0.3251, abs=1e-4)}  # -(0.1 ln 0.1 + 0.9 ln 0.9)


def test_the_sigmoid_twin_never_goes_below_its_floor():
    rng = np.random.default_rng(4)
    labels = np.eye(10)[rng.integers(0, 10, size=(64, 4))].reshape(64, 40)
    floor = loss_levels("sigmoid_then_logits", "per_char", 4, 10)["floor"]
    for scale in (0.0, 1.0, 10.0, 100.0):
        outputs = scale * (2 * labels - 1) + rng.normal(size=labels.shape)
        values = per_example_loss("sigmoid_then_logits", "per_char", tf.constant(labels),
                                  tf.constant(outputs), 4).numpy()
        assert (values >= floor - 1e-9).all()
    assert values.min() == pytest.approx(floor, abs=1e-4)
    zero = per_example_loss("sigmoid_then_logits", "per_char", tf.constant(labels),
                            tf.zeros(labels.shape, tf.float64), 4).numpy()
    assert zero == pytest.approx(loss_levels("sigmoid_then_logits", "per_char", 4, 10)["chance"])
