"""The pitfall detector fires for softmax output passed as logits and for multi-hot label rows,
and never for the correct uses."""

import numpy as np
import pytest
import tensorflow as tf

from captcha_cnn.model.losses import LOSSES, arrange
from captcha_cnn.model.networks import build_model
from captcha_cnn.model.pitfall import (
    LABEL_ROWS_NOT_ONE,
    PROBABILITIES_AS_LOGITS,
    PitfallError,
    check_loss_inputs,
    check_softmax_cross_entropy_inputs,
    looks_like_probabilities,
)
from captcha_cnn.train.loop import check_first_batch

RNG = np.random.default_rng(0)
LABELS = np.eye(10)[RNG.integers(0, 10, size=(32, 4))].reshape(32, 40).astype(np.float32)


def arranged(loss_name, layout, outputs):
    labels, arranged_outputs = arrange(layout, tf.constant(LABELS), tf.constant(outputs), 4)
    return labels.numpy(), LOSSES[loss_name].logits_argument(arranged_outputs).numpy()


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])  # From fresh initialisation to saturated.
def test_fires_for_softmax_then_logits_only(scale):
    outputs = (scale * RNG.normal(size=(32, 40))).astype(np.float32)
    assert check_loss_inputs(LOSSES["softmax_then_logits"],
                             *arranged("softmax_then_logits", "per_char", outputs),
                             mode="off") == []
    buggy = check_loss_inputs(LOSSES["softmax_then_logits"],
                              *arranged("softmax_then_logits", "per_char", outputs))
    assert buggy == [PROBABILITIES_AS_LOGITS]
    assert check_loss_inputs(LOSSES["logits"], *arranged("logits", "per_char", outputs)) == []
    assert check_loss_inputs(LOSSES["sigmoid"], *arranged("sigmoid", "flat", outputs)) == []


def test_raw_logits_that_happen_to_lie_in_zero_one_do_not_fire():
    outputs = RNG.uniform(0, 1, size=(32, 4, 10))
    assert not looks_like_probabilities(outputs)


def test_flags_multi_hot_rows_in_the_flat_layout_but_not_normalized_or_per_char():
    outputs = RNG.normal(size=(32, 40)).astype(np.float32)
    flat = check_loss_inputs(LOSSES["logits"], *arranged("logits", "flat", outputs))
    assert flat == [LABEL_ROWS_NOT_ONE.format(sums="4")]
    assert check_loss_inputs(LOSSES["logits"], *arranged("logits", "flat_normalized", outputs)) == []
    both = check_softmax_cross_entropy_inputs(*arranged("softmax_then_logits", "flat", outputs))
    assert len(both) == 2


def test_error_mode_raises_and_warn_mode_prints(capsys):
    outputs = RNG.normal(size=(32, 40)).astype(np.float32)
    with pytest.raises(PitfallError, match="looks like probabilities"):
        check_loss_inputs(LOSSES["softmax_then_logits"],
                          *arranged("softmax_then_logits", "per_char", outputs), mode="error")
    check_loss_inputs(LOSSES["softmax_then_logits"],
                      *arranged("softmax_then_logits", "per_char", outputs))
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "pass the raw pre-softmax outputs" in err


def test_the_training_check_runs_on_the_real_model(smoke_config, capsys):
    images = RNG.random((8, 16, 48, 1)).astype(np.float32)
    for name, fires in (("logits", False), ("softmax_then_logits", True), ("sigmoid", False)):
        layout = "flat" if name == "sigmoid" else "per_char"
        config = smoke_config(f"loss.name={name}", f"loss.layout={layout}")
        check_first_batch(build_model(config), config, tf.constant(images), tf.constant(LABELS[:8]))
        assert ("looks like probabilities" in capsys.readouterr().err) is fires
