"""The compiled training and evaluation steps, and the signals a training step reports.

Besides the loss and accuracy, a step reports what tells "learning slowly" from "cannot learn"
(see docs/why-it-stalls.md): the gradient norm, overall and per layer, how confident the model's
own softmax is (mean largest class probability per character) and the spread of its raw outputs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from captcha_cnn.data.labels import char_blocks
from captcha_cnn.model.losses import per_example_loss, pull_to_uniform
from captcha_cnn.model.metrics import correct_characters, per_char_accuracy
from captcha_cnn.model.signal_names import GRADIENT


def layer_names(model: keras.Model) -> list[str]:
    """Names of the layers that own trainable variables, in order."""
    names = []
    for variable in model.trainable_variables:
        layer = variable.path.split("/")[0]
        if layer not in names:
            names.append(layer)
    return names


def signal_names(model: keras.Model) -> list[str]:
    """The names of the signals a training step returns, in the order checkpoints store their
    running sums."""
    return (["train_loss", "train_char_acc", "grad_norm"]
            + [GRADIENT + name for name in layer_names(model)]
            + ["max_prob", "logit_std"])


def make_train_step(model: keras.Model, optimizer, loss_name: str, layout: str, length: int,
                    strategy: tf.distribute.Strategy | None = None, prior_pull: float = 0.0,
                    update: bool = True):
    """A compiled step: one update on a (global) batch, returning the signals as a dict of float32
    scalars keyed by `signal_names(model)`. With `update=False` it measures the same signals in
    inference mode and changes nothing (not even dropout's random state): the run's step 0.
    With `prior_pull`, the update also follows that weight of `pull_to_uniform`; the reported
    loss is the named loss alone. Under a tf.distribute strategy each replica computes the
    gradients of its share of the batch; they are summed, and the update and the gradient norms
    use the summed gradients."""
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    groups = layer_names(model)
    scales_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    group_of = [groups.index(v.path.split("/")[0]) for v in model.trainable_variables]
    replica_step = _replica_step(model, optimizer, loss_name, layout, length, replicas,
                                 prior_pull, update)

    # Called outside strategy.scope(): the update then runs in cross-replica context, where the
    # optimizer applies the summed gradients to every replica's copy. The sum goes one variable
    # at a time through the host: simple and exact, but not an NCCL all-reduce (docs/distributed.md).
    @tf.function
    def train_step(images, labels):
        gradients, local = strategy.run(replica_step, args=(images, labels))
        if replicas > 1:
            gradients = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None)
                         for g in gradients]
            local = {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                     for name, value in local.items()}
        # Unscaled copies for the signals, with the scale in force now (apply may change it).
        reported = ([g / tf.cast(optimizer.dynamic_scale, g.dtype) for g in gradients]
                    if scales_loss else gradients)
        if update:
            optimizer.apply(gradients, model.trainable_variables)
        return {**local, **gradient_norms(reported, group_of, groups)}

    return train_step


def _replica_step(model: keras.Model, optimizer, loss_name: str, layout: str, length: int,
                  replicas: int, prior_pull: float, update: bool):
    """One replica's part of a step: its gradients of the objective and its local signals."""
    scales_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            outputs = model(images, training=update)
            loss = tf.reduce_mean(per_example_loss(loss_name, layout, labels, outputs, length))
            objective = (loss + prior_pull * tf.reduce_mean(pull_to_uniform(outputs, length))
                         if prior_pull else loss)
            # Each replica holds 1/replicas of the global batch, so the sum over replicas of
            # these gradients is the gradient of the global batch's mean loss.
            share = objective / replicas if replicas > 1 else objective
            # float16 gradients underflow without loss scaling; the optimizer undoes the scale.
            scaled = optimizer.scale_loss(share) if scales_loss else share
        gradients = tape.gradient(scaled, model.trainable_variables)
        max_prob = tf.reduce_mean(tf.reduce_max(tf.nn.softmax(char_blocks(outputs, length)),
                                                axis=-1))
        # Means over equal shares of the batch; averaged over replicas below. (logit_std becomes
        # the mean of the replicas' spreads, a close stand-in for the spread of the whole batch.)
        local = {"train_loss": loss, "train_char_acc": per_char_accuracy(labels, outputs, length),
                 "max_prob": max_prob, "logit_std": tf.math.reduce_std(outputs)}
        return gradients, local

    return replica_step


def gradient_norms(gradients: list, group_of: list[int], groups: list[str]) -> dict:
    """The whole gradient's norm and each layer's (`group_of[i]`: the layer of gradient i).
    Sums of squares are added in a fixed order: AddN's order is not fixed, and the norms must be
    bit-identical in a resumed run."""
    squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in gradients]
    per_layer_squares = tf.stack([
        tf.reduce_sum(tf.stack([sq for sq, group in zip(squares, group_of, strict=True)
                                if group == index]))
        for index in range(len(groups))])
    per_layer = tf.unstack(tf.sqrt(per_layer_squares))
    return {"grad_norm": tf.sqrt(tf.reduce_sum(per_layer_squares)),
            **{GRADIENT + name: norm for name, norm in zip(groups, per_layer, strict=True)}}


def make_eval_step(model: keras.Model, loss_name: str, layout: str, length: int):
    """A compiled forward pass returning sums over the batch: loss, correct characters, correct
    captchas."""

    @tf.function
    def eval_step(images, labels):
        outputs = model(images, training=False)
        losses = per_example_loss(loss_name, layout, labels, outputs, length)
        correct = correct_characters(labels, outputs, length)
        return tf.stack([tf.reduce_sum(losses), tf.reduce_sum(tf.cast(correct, tf.float32)),
                         tf.reduce_sum(tf.cast(tf.reduce_all(correct, axis=-1), tf.float32))])

    return eval_step
