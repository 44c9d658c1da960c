"""AUTOTRAINER's programs (Zhang et al., ICSE 2021, github.com/shiningrain/AUTOTRAINER), which
DeepDiagnosis re-ran (github.com/DeepDiagnosis/ICSE2022, 'AUTOTRAINER Model Code' and
'DeepDiagnosis Result'). The data are AUTOTRAINER's own synthetic sets (data/simplednn.py:
circles and blobs, times 100); the training settings are those of its demo cases'
config.pkl files (read as pickle opcodes, not loaded)."""

from __future__ import annotations

import keras

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup
from captcha_cnn.perf.doctor_panel.stackoverflow import compiled, repeated

# VarianceScaling(2, fan_in, uniform), by name so that each layer draws its own weights (see
# stackoverflow.UNIFORM).
HE_UNIFORM = {"kernel_initializer": "he_uniform"}


def deep_five_unit(activation: str, layers: int) -> list:
    """AUTOTRAINER's generated circle models: `layers` Dense(5) + activation, then Dense(1) +
    sigmoid, every kernel VarianceScaling(2, fan_in, uniform)."""
    hidden = []
    for _ in range(layers):
        hidden += [keras.layers.Dense(5, **HE_UNIFORM), keras.layers.Activation(activation)]
    return [*hidden, keras.layers.Dense(1, **HE_UNIFORM), keras.layers.Activation("sigmoid")]


def at_circle_sigmoid(fixed: bool = False) -> Setup:
    """Circle model_5ab0aeda: eleven sigmoid layers of 5 units, with the Gradient_Vanish_Case
    settings (Adam 1e-3, binary cross-entropy, batch 128; 300 epochs there, 80 here). The fix
    is AUTOTRAINER's own repair for that case (vanish_selu: SELU activations) on inputs scaled
    to [-1, 1] (SELU alone on inputs times 100 stays at chance for 50 epochs)."""
    x, y = data.circles(scaled=fixed)
    layers = deep_five_unit("selu" if fixed else "sigmoid", 11)
    setup = compiled(layers, x, y, keras.optimizers.Adam(1e-3), "binary_crossentropy", 80, 128)
    return repeated(setup, 8)


def at_circle_exponential(fixed: bool = False) -> Setup:
    """Circle model_0ae2cd88: eight exponential layers of 5 units on inputs times 100, with the
    circle settings above; 80 epochs. DeepDiagnosis's advice, 'change the activation function
    at layer 1', is the fix: SELU (AUTOTRAINER's repair above; ReLU stays at chance for 20
    epochs in eight layers of 5), on inputs scaled to [-1, 1]."""
    x, y = data.circles(scaled=fixed)
    layers = deep_five_unit("selu" if fixed else "exponential", 8)
    setup = compiled(layers, x, y, keras.optimizers.Adam(1e-3), "binary_crossentropy", 80, 128)
    return repeated(setup, 8)


def at_blob_relu_output(fixed: bool = False) -> Setup:
    """Improper_Activation_case: four Dense 50 ReLU (he_uniform) and a Dense(3) ReLU output under
    categorical cross-entropy, Adam 1e-4, batch 256, blobs (300 epochs there, 30 here). The
    commented-out fix in its demo is a softmax output; here on standardised inputs too (the
    softmax alone on inputs times 100 reaches 62% after 100 epochs)."""
    x, y = data.blobs(scaled=fixed)
    layers = [keras.layers.Dense(50, activation="relu", kernel_initializer="he_uniform")
              for _ in range(4)]
    layers.append(keras.layers.Dense(3, activation="softmax" if fixed else "relu"))
    setup = compiled(layers, x, y, keras.optimizers.Adam(1e-4), "categorical_crossentropy",
                     30, 256)
    return repeated(setup, 10)
