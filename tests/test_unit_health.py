"""The dead-unit signal: 1 where units cannot fire for any image, 0 where every unit fires, and
the bias spread read from the layer itself."""

import keras
import numpy as np
import pytest

from captcha_cnn.model.networks import build_model
from captcha_cnn.model.unit_health import UnitProbe, relu_layers

IMAGES = np.random.default_rng(0).uniform(0, 1, size=(8, 12, 20, 1)).astype(np.float32)


def tiny_model(bias: float, weight: float = 0.01) -> keras.Model:
    """conv -> dense, both ReLU. Pixels are in [0, 1] and weights tiny, so a bias of -1 keeps every
    pre-activation below 0 (dead by construction) and a bias of +1 keeps every one above (alive)."""
    init = {"kernel_initializer": keras.initializers.Constant(weight),
            "bias_initializer": keras.initializers.Constant(bias)}
    images = keras.Input(shape=(12, 20, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv", **init)(images)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6, activation="relu", name="dense", **init)(x)
    return keras.Model(images, keras.layers.Dense(3, name="logits")(x))


def test_units_dead_by_construction_read_one():
    signals = UnitProbe(tiny_model(bias=-1.0)).measure(IMAGES)
    assert signals["dead_conv"] == 1.0
    assert signals["dead_dense"] == 1.0


def test_units_alive_by_construction_read_zero():
    signals = UnitProbe(tiny_model(bias=1.0)).measure(IMAGES)
    assert signals["dead_conv"] == 0.0
    assert signals["dead_dense"] == 0.0


def test_a_unit_counts_as_alive_if_it_fires_for_one_image_only():
    model = tiny_model(bias=-1.0, weight=1.0)  # 9 pixels near 1 can outweigh the bias of -1.
    images = np.zeros_like(IMAGES)
    images[3, 5:8, 5:8, 0] = 1.0  # One bright patch in one image.
    signals = UnitProbe(model).measure(images)
    assert signals["dead_conv"] == 0.0
    assert UnitProbe(model).measure(np.zeros_like(IMAGES))["dead_conv"] == 1.0


def test_half_dead_layer_reads_one_half():
    model = tiny_model(bias=1.0)
    conv = model.get_layer("conv")
    conv.bias.assign(np.array([-1.0, 1.0, -1.0, 1.0], np.float32))
    signals = UnitProbe(model).measure(IMAGES)
    assert signals["dead_conv"] == 0.5
    assert signals["bias_mean_conv"] == pytest.approx(0.0)
    assert signals["bias_std_conv"] == pytest.approx(1.0)


def test_classic_model_reports_every_relu_layer(smoke_config):
    model = build_model(smoke_config())
    assert [layer.name for layer in relu_layers(model)] == ["conv1", "conv2", "conv3", "dense"]
    signals = UnitProbe(model).measure(np.ones((2, 16, 48, 1), np.float32))
    assert set(signals) == {f"{kind}_{name}" for kind in ("dead", "bias_mean", "bias_std")
                            for name in ("conv1", "conv2", "conv3", "dense")}
    assert all(0.0 <= signals[f"dead_{name}"] <= 1.0 for name in ("conv1", "conv2", "conv3"))
    assert signals["bias_std_conv1"] == 0.0  # Keras initialisation: zero biases.


def test_batch_norm_model_reports_dead_units_without_biases(smoke_config):
    model = build_model(smoke_config("model.name=fast", "data.width=64", "data.height=32"))
    signals = UnitProbe(model).measure(np.ones((2, 32, 64, 1), np.float32))
    assert sorted(signals) == [f"dead_block{n}_relu" for n in range(1, 5)]
