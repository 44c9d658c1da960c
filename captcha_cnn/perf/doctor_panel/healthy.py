"""Healthy models of the kinds the doctor must read without a false alarm (issue 30, point 1):
an LSTM, a CNN with BatchNormalization, an Embedding over integer tokens, a two-input model, a
tanh MLP, a GELU MLP and a regression. Written for the panel on bundled data; each learns."""

from __future__ import annotations

import keras
import numpy as np

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup
from captcha_cnn.perf.doctor_panel.stackoverflow import compiled


def lstm() -> Setup:
    """Digits read row by row: 8 steps of 8 pixels into LSTM(32), softmax over 10."""
    x, labels = data.digits()
    layers = [keras.layers.LSTM(32), keras.layers.Dense(10, activation="softmax")]
    return compiled(layers, x.reshape(-1, 8, 8), data.one_hot(labels), "adam",
                    "categorical_crossentropy", 6, 32)


def batchnorm_cnn() -> Setup:
    """Digits as 8x8 images: two convolutions each followed by BatchNormalization and ReLU,
    global average pooling, integer labels under sparse categorical cross-entropy. (Batch
    statistics with momentum 0.9, so that inference-mode accuracy follows within 6 epochs.)"""
    x, labels = data.digits()
    layers = []
    for filters in (16, 32):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                   keras.layers.BatchNormalization(momentum=0.9), keras.layers.ReLU()]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")]
    return compiled(layers, x.reshape(-1, 8, 8, 1), labels.astype(np.int32), "adam",
                    "sparse_categorical_crossentropy", 6, 32)


def embedding() -> Setup:
    """Sequences of 12 tokens out of 50: is token 7 among them? Embedding(50, 16), average
    pooling, sigmoid, binary cross-entropy."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, size=(2000, 12)).astype(np.int32)
    y = (x == 7).any(axis=1).astype(np.float32)
    layers = [keras.layers.Embedding(50, 16), keras.layers.GlobalAveragePooling1D(),
              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    return compiled(layers, x, y, keras.optimizers.Adam(1e-2), "binary_crossentropy", 3, 32)


def two_inputs() -> Setup:
    """Digits split into top and bottom halves, each its own input, joined: a functional model
    with two inputs."""
    x, labels = data.digits()
    top, bottom = keras.Input(shape=(32,)), keras.Input(shape=(32,))
    joined = keras.layers.Concatenate()([keras.layers.Dense(32, activation="relu")(top),
                                         keras.layers.Dense(32, activation="relu")(bottom)])
    model = keras.Model([top, bottom], keras.layers.Dense(10, activation="softmax")(joined))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    inputs, y = [x[:, :32], x[:, 32:]], data.one_hot(labels)
    return Setup(model, inputs, y, {"epochs": 3, "batch_size": 32}, data.probe(inputs, y))


def tanh_mlp() -> Setup:
    """Wine, standardised, through Dense 32 tanh, SGD 0.1."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    layers = [keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(3, activation="softmax")]
    return compiled(layers, data.standardized(wine.data), data.one_hot(wine.target),
                    keras.optimizers.SGD(0.1), "categorical_crossentropy", 10, 16)


def gelu_mlp() -> Setup:
    """Breast cancer, standardised, through Dense 32 GELU, a sigmoid output."""
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer()
    layers = [keras.layers.Dense(32, activation="gelu"), keras.layers.Dense(1, activation="sigmoid")]
    return compiled(layers, data.standardized(cancer.data), cancer.target.astype(np.float32),
                    "adam", "binary_crossentropy", 5, 32)


def regression() -> Setup:
    """Diabetes progression (standardised inputs, raw targets 25-346) through Dense 64 ReLU and
    a linear output, mean squared error, Adam 0.05."""
    from sklearn.datasets import load_diabetes

    diabetes = load_diabetes()
    layers = [keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)]
    return compiled(layers, data.standardized(diabetes.data),
                    diabetes.target.astype(np.float32)[:, None], keras.optimizers.Adam(0.05),
                    "mse", 20, 32, metrics=("mae",))
