"""The losses the experiment compares (the levels each can reach: captcha_cnn.model.levels).

Every loss in `LOSSES` takes `(labels, outputs)` and returns one value per row, reducing only the
last axis. `outputs` are the model's raw outputs (logits). The buggy loss is written with raw
TensorFlow ops on purpose: Keras's own cross-entropy losses notice a softmax in front of them and
silently use the pre-softmax logits instead, which would "repair" the very bug we reproduce.

`per_example_loss` applies a loss in one of three layouts (see configs/default.yaml):
- per_char: labels and outputs reshaped to [batch, length, classes]; mean over characters;
- flat: one softmax over the whole [batch, length * classes] vector, multi-hot labels as they are
  (the seed's case 2). The loss value is right, but TensorFlow's fused op returns the gradient
  `softmax(outputs) - labels`, which is the true gradient only when each label row sums to 1;
- flat_normalized: flat with labels divided by `length`, so rows sum to 1 and the gradient is true.
"""

from __future__ import annotations

import tensorflow as tf

from captcha_cnn.data.labels import char_blocks


def fused_softmax_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """The kernel behind `tf.nn.softmax_cross_entropy_with_logits`, called directly.

    `tf.nn.softmax_cross_entropy_with_logits` runs this fused kernel, whose gradient is
    `softmax(logits) - labels`, except when op determinism is enabled
    (`tf.config.experimental.enable_op_determinism()`, which `train.deterministic` turns on): then
    it computes `-sum(labels * log_softmax(logits))` from ordinary ops, whose gradient is the true
    one. The two agree when label rows sum to 1 and differ otherwise (the flat layout). Calling
    the kernel directly keeps the seed's behaviour whatever the determinism setting; the values
    are identical either way.
    """
    labels = tf.convert_to_tensor(labels)
    logits = tf.cast(tf.convert_to_tensor(logits), labels.dtype)
    classes = tf.shape(logits)[-1]
    loss, _ = tf.raw_ops.SoftmaxCrossEntropyWithLogits(
        features=tf.reshape(logits, [-1, classes]), labels=tf.reshape(labels, [-1, classes]))
    return tf.reshape(loss, tf.shape(logits)[:-1])


class Loss:
    """A cross-entropy op and what is done to the model's outputs before they reach its `logits`.

    Calling it gives the loss per row. `logits_argument` is exposed so that the pitfall detector
    (captcha_cnn.model.pitfall) can inspect exactly what the op receives as `logits`.
    """

    def __init__(self, op, logits_argument, uses_softmax: bool):
        self.op, self.logits_argument, self.uses_softmax = op, logits_argument, uses_softmax

    def __call__(self, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
        return self.op(labels, self.logits_argument(outputs))


def mean_sigmoid_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
                          axis=-1)


def _unchanged(outputs: tf.Tensor) -> tf.Tensor:
    return outputs


LOSSES = {
    "logits": Loss(fused_softmax_cross_entropy, _unchanged, True),
    "softmax_then_logits": Loss(fused_softmax_cross_entropy, tf.nn.softmax, True),
    "sigmoid": Loss(mean_sigmoid_cross_entropy, _unchanged, False),
    # The sigmoid twin of the bug: the tutorial's own loss, fed sigmoid(outputs) as its logits.
    "sigmoid_then_logits": Loss(mean_sigmoid_cross_entropy, tf.sigmoid, False),
}


def arrange(layout: str, labels: tf.Tensor, outputs: tf.Tensor, length: int):
    """Labels and outputs as the loss op sees them in `layout` (see the module docstring)."""
    if layout == "per_char":
        return char_blocks(labels, length), char_blocks(outputs, length)
    if layout == "flat":
        return labels, outputs
    if layout == "flat_normalized":
        return labels / length, outputs
    raise ValueError(f"unknown loss layout {layout!r}")


def per_example_loss(loss_name: str, layout: str, labels: tf.Tensor, outputs: tf.Tensor,
                     length: int) -> tf.Tensor:
    """Loss per example, [batch], for multi-hot `labels` and raw `outputs` of shape [batch, width]."""
    arranged_labels, arranged_outputs = arrange(layout, labels, outputs, length)
    loss = LOSSES[loss_name](arranged_labels, arranged_outputs)
    return tf.reduce_mean(loss, axis=-1) if layout == "per_char" else loss


def pull_to_uniform(outputs: tf.Tensor, length: int) -> tf.Tensor:
    """Per example, [batch]: the mean over characters and classes of -log softmax(outputs), that
    is the cross-entropy against uniform labels. Its gradient with respect to a character's
    logits is `softmax - 1/K`: the pull toward uniform outputs that the correct loss exerts on
    average over labels, and that the buggy loss, behind its second softmax, exerts K times more
    weakly (`loss.prior_pull`, docs/why-it-stalls.md section 10)."""
    return -tf.reduce_mean(tf.nn.log_softmax(char_blocks(outputs, length)), axis=[-2, -1])
