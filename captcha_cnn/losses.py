"""The losses the experiment compares, and the levels each one can reach.

Every loss in `LOSSES` takes `(labels, outputs)` and returns one value per row, reducing only the
last axis. `outputs` are the model's raw outputs (logits). The buggy loss is written with raw
`tf.nn` calls on purpose: Keras's own cross-entropy losses notice a softmax in front of them and
silently use the pre-softmax logits instead, which would "repair" the very bug we reproduce.

`per_example_loss` applies a loss in one of three layouts (see configs/default.yaml):
- per_char: labels and outputs reshaped to [batch, length, classes]; mean over characters;
- flat: one softmax over the whole [batch, length * classes] vector, multi-hot labels as they are
  (the seed's case 2). The loss value is right, but TensorFlow's fused op returns the gradient
  `softmax(outputs) - labels`, which is the true gradient only when each label row sums to 1;
- flat_normalized: flat with labels divided by `length`, so rows sum to 1 and the gradient is true.
"""

from __future__ import annotations

import math

import tensorflow as tf


def softmax_cross_entropy(labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """Correct use: raw logits go into softmax_cross_entropy_with_logits."""
    return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=outputs)


def softmax_then_logits(labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """The seed's bug: softmax first, and its probabilities passed as `logits` (a second softmax)."""
    return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=tf.nn.softmax(outputs))


def sigmoid_cross_entropy(labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """The tutorial's original loss: independent sigmoids, averaged over the row."""
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=outputs), axis=-1)


LOSSES = {
    "logits": softmax_cross_entropy,
    "softmax_then_logits": softmax_then_logits,
    "sigmoid": sigmoid_cross_entropy,
}


def per_example_loss(loss_name: str, layout: str, labels: tf.Tensor, outputs: tf.Tensor,
                     length: int) -> tf.Tensor:
    """Loss per example, [batch], for multi-hot `labels` and raw `outputs` of shape [batch, width]."""
    loss = LOSSES[loss_name]
    if layout == "per_char":
        classes = labels.shape[-1] // length
        per_char = loss(tf.reshape(labels, [-1, length, classes]),
                        tf.reshape(outputs, [-1, length, classes]))
        return tf.reduce_mean(per_char, axis=-1)
    if layout == "flat":
        return loss(labels, outputs)
    if layout == "flat_normalized":
        return loss(labels / length, outputs)
    raise ValueError(f"unknown loss layout {layout!r}")


def loss_levels(loss_name: str, layout: str, length: int, classes: int) -> dict[str, float]:
    """Reference levels of the loss as `per_example_loss` reports it.

    - `chance`: the loss of uniform outputs (all logits equal), where every run starts;
    - `floor`: the lowest value the loss can ever reach.

    For a softmax over N entries with n true ones of weight w each, the floor puts equal
    probability on the true entries. With raw logits that gives n*w*ln(n) (0 per character).
    With the bug, the "logits" are probabilities p in [0, 1], so the second softmax can give a
    true entry at most e^(1/n) / (n e^(1/n) + N - n): the floor is -n*w*ln of that, for example
    -ln(e / (e + 9)) = 1.461 per character with 10 classes, and 13.868 for the flat 40-vector.
    """
    if loss_name == "sigmoid":
        return {"chance": math.log(2.0), "floor": 0.0}
    if layout == "per_char":
        ones, entries, weight = 1, classes, 1.0
    else:
        ones, entries = length, length * classes
        weight = 1.0 / length if layout == "flat_normalized" else 1.0
    chance = ones * weight * math.log(entries)
    if loss_name == "softmax_then_logits":
        best = math.exp(1.0 / ones) / (ones * math.exp(1.0 / ones) + entries - ones)
        floor = -ones * weight * math.log(best)
    else:
        floor = ones * weight * math.log(ones)
    return {"chance": chance, "floor": floor}
