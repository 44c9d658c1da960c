"""The optimizer a config names, with its learning-rate schedule (and loss scaling for float16)."""

from __future__ import annotations

import keras


def learning_rate(train: dict):
    """A constant rate, or linear warm-up then cosine decay to 0 at `train.steps`."""
    if train["schedule"] == "constant":
        return train["learning_rate"]
    warmup = train["warmup_steps"]
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else train["learning_rate"], decay_steps=train["steps"] - warmup,
        warmup_target=train["learning_rate"] if warmup else None, warmup_steps=warmup)


def make_optimizer(train: dict) -> keras.optimizers.Optimizer:
    """Adam or SGD as the `train` section says; under mixed_float16, wrapped to scale the loss."""
    rate = learning_rate(train)
    if train["optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(rate, amsgrad=train["amsgrad"])
    else:
        optimizer = keras.optimizers.SGD(rate, momentum=train["momentum"])
    if train["precision"] == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
