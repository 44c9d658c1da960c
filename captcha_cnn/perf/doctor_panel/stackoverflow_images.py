"""DeepLocalize's Stack Overflow convolutional programs (see stackoverflow.py for the sources
and the porting rules), on 8x8 digits instead of MNIST and a folder of photographs."""

from __future__ import annotations

import keras

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup
from captcha_cnn.perf.doctor_panel.stackoverflow import compiled


def so_47352366(fixed: bool = False) -> Setup:
    """Two 5x5 ReLU convolutions (32 and 64 filters, biases 0.1) with pooling, Dense 1024 ReLU,
    dropout 0.5 and a final Dense(10) with ReLU instead of softmax, categorical cross-entropy,
    Adam, batch 50, 600 steps (fix: softmax output). 8x8 digits give a 2x2x64 map; 144 steps."""
    x, labels = data.digits()
    bias = {"bias_initializer": keras.initializers.Constant(0.1)}
    layers = [keras.layers.Reshape((8, 8, 1)),
              keras.layers.Conv2D(32, 5, padding="same", activation="relu", **bias),
              keras.layers.MaxPooling2D(padding="same"),
              keras.layers.Conv2D(64, 5, padding="same", activation="relu", **bias),
              keras.layers.MaxPooling2D(padding="same"), keras.layers.Reshape((1, 2 * 2 * 64)),
              keras.layers.Dense(1024, activation="relu", **bias), keras.layers.Dropout(0.5),
              keras.layers.Flatten(),
              keras.layers.Dense(10, activation="softmax" if fixed else "relu")]
    return compiled(layers, x, data.one_hot(labels), "adam", "categorical_crossentropy", 4, 50)


def so_50079585(fixed: bool = False) -> Setup:
    """Three classes of photographs read with class_mode='binary' (labels 0, 1, 2) into three
    3x3 ReLU convolutions with pooling, Dense 64 ReLU, dropout and Dense(1) + sigmoid, binary
    cross-entropy, RMSprop, batch 16 (fix: Dense(3) + softmax, categorical cross-entropy).
    Here digits 0-2 as 8x8 images; 'same' padding so three poolings fit in 8x8; 3 epochs."""
    x, labels = data.digits(classes=3)
    x = x.reshape(-1, 8, 8, 1)
    convolutions = []
    for filters in (32, 32, 64):
        convolutions += [keras.layers.Conv2D(filters, 3, padding="same"),
                         keras.layers.Activation("relu"), keras.layers.MaxPooling2D()]
    head = ([keras.layers.Dense(3), keras.layers.Activation("softmax")] if fixed
            else [keras.layers.Dense(1), keras.layers.Activation("sigmoid")])
    layers = [*convolutions, keras.layers.Flatten(), keras.layers.Dense(64),
              keras.layers.Activation("relu"), keras.layers.Dropout(0.5), *head]
    y = data.one_hot(labels, 3) if fixed else labels.astype("float32")
    loss = "categorical_crossentropy" if fixed else "binary_crossentropy"
    return compiled(layers, x, y, "rmsprop", loss, 3, 16)
