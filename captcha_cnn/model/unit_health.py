"""Telling a dead network from a slow one: which ReLU units never fire, and where the biases went.

A ReLU unit (one channel of a convolution, one neuron of a dense layer) whose output is 0 for
every image of a batch, at every position, passes no gradient to anything before it: its weights
and bias get exactly 0, so no optimizer can bring it back. When every unit of a layer is dead the
network's output no longer depends on the image at all, and the run is not slow but finished.

`UnitProbe(model).measure(images)` returns, per ReLU layer, the fraction of its units that are
dead on those images (`dead_<layer>`), and for each such layer that has a bias, the mean and the
spread (standard deviation) of that bias over its units (`bias_mean_<layer>`, `bias_std_<layer>`):
a bias random-walking under the optimizer's noise shows as a growing spread.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from captcha_cnn.model.signal_names import BIAS_MEAN, BIAS_STD, DEAD


def _ends_in_relu(layer: keras.layers.Layer) -> bool:
    """True for a layer whose output is a ReLU's: a ReLU layer, or a layer built with
    activation="relu" (the classic model's convolutions and dense layer)."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "relu"


def relu_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers whose outputs are ReLU outputs, in order."""
    return [layer for layer in model.layers if _ends_in_relu(layer)]


class UnitProbe:
    """Measures the health of a model's ReLU units on a batch of images."""

    def __init__(self, model: keras.Model):
        self.layers = relu_layers(model)
        self.names = [layer.name for layer in self.layers]
        if not self.layers:
            self._activations = None
            return
        activations = keras.Model(model.inputs, [layer.output for layer in self.layers])

        @tf.function
        def largest_output_per_unit(images):
            # The largest output of each unit over every image and position: 0 means dead.
            outputs = activations(images, training=False)
            return [tf.reduce_max(tf.reshape(out, [-1, out.shape[-1]]), axis=0)
                    for out in outputs]

        self._activations = largest_output_per_unit

    def measure(self, images) -> dict[str, float]:
        """`dead_<layer>` for each ReLU layer, `bias_mean_<layer>` and `bias_std_<layer>` for
        each that has a bias."""
        if self._activations is None:
            return {}
        signals = {}
        for layer, largest in zip(self.layers, self._activations(images), strict=True):
            signals[DEAD + layer.name] = float(np.mean(np.asarray(largest) <= 0.0))
            # A separate ReLU layer (the batch-norm models) has no bias of its own.
            bias = getattr(layer, "bias", None)
            if bias is not None:
                values = np.asarray(bias.numpy(), dtype=np.float64)
                signals[BIAS_MEAN + layer.name] = float(values.mean())
                signals[BIAS_STD + layer.name] = float(values.std())
        return signals
