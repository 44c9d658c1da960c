"""The CNNs, built with the Keras Functional API. Each outputs raw logits: no softmax inside.

- classic: the tutorial CNN the seed comes from (the reproduction uses only this one);
- fast: a small batch-norm CNN for the `fast` recipe (configs/fast.yaml);
- peer: the CNN of ypwhs/captcha_break, the public recipe the benchmark compares against.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from captcha_cnn.data.labels import LabelCodec


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


def _conv_bn_relu(x, filters: int, name: str, use_bias: bool = False):
    """conv 3x3 SAME -> batch norm -> ReLU (a conv bias is redundant before batch norm's offset;
    the peer keeps it, as its source does)."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias,
                      kernel_initializer="he_uniform", name=f"{name}_conv")(x)
    # Built under several replicas, the statistics are synchronized: those of the global batch,
    # as on one device (otherwise each replica normalises its share alone). On one device plain
    # batch norm, whose variance is computed more accurately.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    x = layers.BatchNormalization(synchronized=replicas > 1, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_fast(height: int, width: int, outputs: int, dropout: float = 0.25,
               downsample: bool = True, **_) -> keras.Model:
    """A small modern CNN for the `fast` recipe: 2x2 average pooling of the input, 4 x
    [conv-BN-ReLU -> max pool 2x2] (32, 64, 128, 128 filters), dropout, then a dense layer of raw
    logits. Batch norm lets it train at rates that would throw the classic model off its
    plateau. `downsample=False` drops the input pooling (the benchmark times the difference)."""
    images = keras.Input(shape=(height, width, 1), name="image")
    # Halving the resolution first made the step several times faster on a 2-core CPU (measured
    # by the benchmark): a full-size first block dominated the step. 80x30 still shows every
    # character.
    x = layers.AveragePooling2D(2, name="downsample")(images) if downsample else images
    for block, filters in enumerate((32, 64, 128, 128)):
        x = _conv_bn_relu(x, filters, f"block{block + 1}")
        x = layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(outputs, name="logits", dtype="float32")(x)
    return keras.Model(images, logits, name="fast")


def build_peer(height: int, width: int, outputs: int, **_) -> keras.Model:
    """The CNN of ypwhs/captcha_break, as its README describes it: 5 blocks of 2 x
    [conv 3x3 -> batch norm -> ReLU] with 32, 64, 128, 256, 256 filters, each block ending in
    2x2 max pooling, then one softmax head per character. The heads are one dense layer of
    `length * classes` raw logits here: a dense layer per character on the same features is the
    same thing, split. No dropout (its README shows none)."""
    images = keras.Input(shape=(height, width, 1), name="image")
    x = images
    for block, filters in enumerate((32, 64, 128, 256, 256)):
        for layer in range(2):
            x = _conv_bn_relu(x, filters, f"block{block + 1}_{layer + 1}", use_bias=True)
        x = layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(outputs, name="logits", dtype="float32")(x)
    return keras.Model(images, logits, name="peer")


MODELS = {"classic": build_classic, "fast": build_fast, "peer": build_peer}


def build_model(config: dict) -> keras.Model:
    """The model named in the config, shaped by its data section."""
    data, model = config["data"], config["model"]
    return MODELS[model["name"]](
        height=data["height"], width=data["width"],
        outputs=LabelCodec.from_config(config).width,
        dense_units=model["dense_units"], dropout=model["dropout"],
        init=model["init"], seed=config["seed"])
