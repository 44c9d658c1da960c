"""The CNN, built with the Keras Functional API. It outputs raw logits: no softmax inside it."""

from __future__ import annotations

import keras
from keras import layers


def _initializers(init: str, seed: int) -> dict:
    """Keras defaults, or the tutorial's 0.01 * normal weights and 0.1 * normal biases."""
    if init == "tutorial":
        return {"kernel_initializer": keras.initializers.RandomNormal(stddev=0.01, seed=seed),
                "bias_initializer": keras.initializers.RandomNormal(stddev=0.1, seed=seed + 1)}
    return {}


def build_classic(height: int, width: int, outputs: int, dense_units: int = 1024,
                  dropout: float = 0.25, init: str = "keras", seed: int = 0) -> keras.Model:
    """The tutorial CNN: 3 x [conv 3x3 SAME -> ReLU -> max pool 2x2 SAME -> dropout] (32, 64, 64
    filters), dense `dense_units` with ReLU and dropout, then a dense layer of raw logits."""
    images = keras.Input(shape=(height, width, 1), name="image")
    x = images
    for block, filters in enumerate((32, 64, 64)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block + 1}",
                          **_initializers(init, seed + 10 * block))(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{block + 1}")(x)
        x = layers.Dropout(dropout, seed=seed + 10 * block + 5, name=f"dropout{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense",
                     **_initializers(init, seed + 100))(x)
    x = layers.Dropout(dropout, seed=seed + 105, name="dropout_dense")(x)
    # float32 even under a mixed-precision policy: the softmax and the loss read these values.
    logits = layers.Dense(outputs, name="logits", dtype="float32",
                          **_initializers(init, seed + 200))(x)
    return keras.Model(images, logits, name="classic")


MODELS = {"classic": build_classic}


def build_model(config: dict) -> keras.Model:
    """The model named in the config, shaped by its data section."""
    data, model = config["data"], config["model"]
    return MODELS[model["name"]](
        height=data["height"], width=data["width"],
        outputs=data["length"] * len(data["charset"]),
        dense_units=model["dense_units"], dropout=model["dropout"],
        init=model["init"], seed=config["seed"])
