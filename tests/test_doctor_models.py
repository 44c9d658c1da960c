"""The doctor on the models people have (issue 30, point 1): any Keras model fit can train gets
verdicts and never a crash. Small models on scikit-learn's digits, one or two epochs each."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from captcha_cnn.doctor import Doctor

datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits():
    data = datasets.load_digits()
    images = (data.images / 16.0).astype(np.float32)
    return images, keras.utils.to_categorical(data.target, 10).astype(np.float32), data.target


def fit_with_doctor(model, loss, digits, epochs=2, learning_rate=3e-3, **fit_options):
    images, one_hot, _ = digits
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(learning_rate), loss)
    doctor = Doctor(probe=(images[:128], one_hot[:128]), every=20, verbose=False)
    model.fit(images, one_hot, batch_size=32, epochs=epochs, verbose=0, callbacks=[doctor],
              **fit_options)
    return doctor


def with_logits():
    return keras.losses.CategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "selu", "swish", None])
def test_an_mlp_with_no_relu_learns_without_a_crash(activation, digits):
    """With no ReLU layer to watch, the look's model has one output: Keras returns it as a lone
    tensor, which the look once tried to unpack (OperatorNotAllowedInGraphError inside fit)."""
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation=activation),
                              keras.layers.Dense(10)])
    doctor = fit_with_doctor(model, with_logits(), digits)
    assert doctor.history[0].kind == "plateau"
    assert doctor.verdict.kind == "learning"
