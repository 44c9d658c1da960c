"""More of DeepLocalize's Stack Overflow programs (see stackoverflow.py for the sources and the
porting rules): raw inputs far from unit range, sigmoid stacks, loss and optimizer choices."""

from __future__ import annotations

import keras
import numpy as np

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup
from captcha_cnn.perf.doctor_panel.stackoverflow import NORMAL, UNIFORM, compiled, full_batch, repeated


def so_31556268(fixed: bool = False) -> Setup:
    """XOR on its four rows through Dense 4 sigmoid and Dense 1 sigmoid (Glorot uniform), mean
    absolute error, SGD 0.05 with Nesterov momentum 0.11, batch 4, 1,000 epochs (fix: mean
    squared error and Adam, 10,000 epochs there, 2,500 here: all four rows right from about
    2,000). Each full-batch step is kept; the rows are repeated so that the steps come in fewer
    epochs."""
    x = np.array([[1, 1], [1, 0], [0, 0], [0, 1]], dtype=np.float32)
    y = np.array([[0], [1], [0], [1]], dtype=np.float32)
    layers = [keras.layers.Dense(4), keras.layers.Activation("sigmoid"), keras.layers.Dense(1),
              keras.layers.Activation("sigmoid")]
    if fixed:
        return full_batch(compiled(layers, x, y, "adam", "mse", 2500, 4), 100)
    optimizer = keras.optimizers.SGD(learning_rate=0.05, momentum=0.11, nesterov=True)
    return full_batch(compiled(layers, x, y, optimizer, "mean_absolute_error", 1000, 4), 50)


def so_39217567(fixed: bool = False) -> Setup:
    """All 256 8-bit codes mapped to a shuffled copy of themselves through three Dense 8 sigmoid
    layers with N(0, 0.05) weights, mean squared error, SGD (0.01), batch 50, 1,000 epochs there,
    100 here (fix: ReLU hidden layers, binary cross-entropy, batch 1, and the targets no longer
    shuffled: the identity; 1,000 epochs there, 10 here). Accuracy per bit, as Keras 1's
    'accuracy' read it for the fix's binary cross-entropy (Keras 3 would take the argmax)."""
    x = np.array([[float(bit) for bit in f"{code:08b}"] for code in range(256)], dtype=np.float32)
    y = x if fixed else x[np.random.default_rng(7).permutation(256)]
    hidden = "relu" if fixed else "sigmoid"
    layers = [keras.layers.Dense(8, **NORMAL), keras.layers.Activation(hidden),
              keras.layers.Dense(8, **NORMAL), keras.layers.Activation(hidden),
              keras.layers.Dense(8, **NORMAL), keras.layers.Activation("sigmoid")]
    if fixed:
        return compiled(layers, x, y, "sgd", "binary_crossentropy", 10, 1, ("binary_accuracy",))
    return repeated(compiled(layers, x, y, "sgd", "mse", 100, 50, ("binary_accuracy",)), 10)


# The question's CSV: 21 rows of three features and a label, four distinct rows in all.
ROWS_39525358 = [((65, 66, 67), 0)] * 11 + [((68, 69, 70), 1)] * 7 + [((65, 66, 70), 0)] * 2 \
    + [((68, 69, 67), 1)]


def so_39525358(fixed: bool = False) -> Setup:
    """Three raw features near 67 (the question's 21 rows, written out) into Dense 12 and
    Dense 3 ReLU and a sigmoid output, RandomUniform(+-0.05) weights, binary cross-entropy,
    Adam, batch 1, on a 67% training split, 150 epochs (fix: standardise the features)."""
    x = np.array([row for row, _ in ROWS_39525358], dtype=np.float32)
    y = np.array([[label] for _, label in ROWS_39525358], dtype=np.float32)
    x = data.standardized(x) if fixed else x
    train = np.random.default_rng(7).permutation(len(y))[:14]
    layers = [keras.layers.Dense(12, **UNIFORM), keras.layers.Activation("relu"),
              keras.layers.Dense(3, **UNIFORM), keras.layers.Activation("relu"),
              keras.layers.Dense(1, **UNIFORM), keras.layers.Activation("sigmoid")]
    return repeated(compiled(layers, x[train], y[train], "adam", "binary_crossentropy", 150, 1),
                    15)


def so_50306988(fixed: bool = False) -> Setup:
    """Two features, uniform on [0.2, 0.4] for one class and [0.5, 0.7] for the other, 200
    points, into Dense 2 sigmoid and a Dense 2 softmax, categorical cross-entropy, Adam, batch
    32, 5 epochs (fix: Dense 1 sigmoid and binary cross-entropy, 200 points a class, 50
    epochs, here in 5 passes of ten)."""
    rng = np.random.default_rng(7)
    count = 200 if fixed else 100
    x = np.concatenate([rng.uniform(0.2, 0.4, (count, 2)), rng.uniform(0.5, 0.7, (count, 2))])
    labels = np.repeat([0, 1], count)
    order = rng.permutation(len(labels))
    x, labels = x[order].astype(np.float32), labels[order]
    if fixed:
        layers = [keras.layers.Dense(2, activation="sigmoid"),
                  keras.layers.Dense(1, activation="sigmoid")]
        return repeated(compiled(layers, x, labels[:, None].astype(np.float32), "adam",
                                 "binary_crossentropy", 50, 32), 10)
    layers = [keras.layers.Dense(2), keras.layers.Activation("sigmoid"), keras.layers.Dense(2),
              keras.layers.Activation("softmax")]
    return compiled(layers, x, data.one_hot(labels, 2), "adam", "categorical_crossentropy", 5,
                    32)


def adult_like(count: int, seed: int = 7):
    """A stand-in for UCI Adult (32,561 rows there): its six numeric columns drawn over their
    ranges (age 17-90, fnlwgt 1.2e4-1.5e6, education-num 1-16, capital gain 0-99,999 and loss
    0-4,356, mostly 0, hours 1-99) and its eight categorical columns as label codes; 24% of
    labels '>50K', rising with education, age, hours and capital gain as in the data."""
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 91, count)
    fnlwgt = np.clip(rng.lognormal(12.0, 0.5, count), 12285, 1484705).round()
    education = rng.integers(1, 17, count)
    gain = np.where(rng.random(count) < 0.08, rng.integers(1, 100000, count), 0)
    loss = np.where(rng.random(count) < 0.05, rng.integers(1, 4357, count), 0)
    hours = np.clip(rng.normal(40, 12, count), 1, 99).round()
    codes = [rng.integers(0, size, count) for size in (9, 16, 7, 15, 6, 5, 2, 42)]
    score = 0.4 * education + 0.05 * age + 0.04 * hours + (gain > 5000) * 4 \
        + rng.normal(0, 1.5, count)
    label = (score > np.quantile(score, 0.76)).astype(int)
    workclass, education_code, marital, occupation, relationship, race, sex, country = codes
    x = np.stack([age, workclass, fnlwgt, education_code, education, marital, occupation,
                  relationship, race, sex, gain, loss, hours, country], axis=1)
    return x.astype(np.float32), label


def so_47724077(fixed: bool = False) -> Setup:
    """UCI Adult's 14 raw columns (here a stand-in, `adult_like`) into Dense 21 ReLU and a
    Dense 2 softmax, categorical cross-entropy, Adam, batch 100, 50 epochs over 32,561 rows
    there, 10 over 3,000 here (fix: SGD instead of Adam)."""
    x, labels = adult_like(3000)
    layers = [keras.layers.Dense(21), keras.layers.Activation("relu"), keras.layers.Dense(2),
              keras.layers.Activation("softmax")]
    return compiled(layers, x, data.one_hot(labels, 2), "sgd" if fixed else "adam",
                    "categorical_crossentropy", 10, 100)
