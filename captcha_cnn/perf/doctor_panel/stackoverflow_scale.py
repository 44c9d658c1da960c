"""More of DeepLocalize's Stack Overflow programs (see stackoverflow.py for the sources and the
porting rules): outputs whose range misses the targets, raw inputs, learning rates too high."""

from __future__ import annotations

import keras
import numpy as np

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup
from captcha_cnn.perf.doctor_panel.stackoverflow import NORMAL, UNIFORM, compiled, full_batch, repeated


def so_48251943(fixed: bool = False) -> Setup:
    """Two features into Dense 4 ReLU and a ReLU output for targets that go below 0, mean
    squared error, SGD, batch 10 (fix: tanh output). The question's 17-row CSV is replaced by
    17 rows of the same ranges with targets in (-1, 1), so that the fix's tanh can reach them."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 2.0, size=(17, 2)).astype(np.float32)
    y = np.tanh(0.8 * x[:, :1] - 0.6 * x[:, 1:] - 0.2).astype(np.float32)
    layers = [keras.layers.Dense(4), keras.layers.Activation("relu"), keras.layers.Dense(1),
              keras.layers.Activation("tanh" if fixed else "relu")]
    return repeated(compiled(layers, x, y, "sgd", "mean_squared_error", 50, 10,
                             metrics=("mse",)), 10)


def so_48221692(fixed: bool = False) -> Setup:
    """y = x^2 + 3 on x in [-10, 10] (the question's CSV, regenerated) through Dense 5
    sigmoid and a sigmoid output, mean squared error, SGD, full batch (fix: linear output).
    1,000 epochs there, 300 here."""
    x = np.arange(-10.0, 10.05, 0.1, dtype=np.float32)[:, None]
    y = (x**2 + 3.0).astype(np.float32)
    index = np.random.default_rng(7).permutation(len(x))[:150]  # Its 75% training split.
    layers = [keras.layers.Dense(5), keras.layers.Activation("sigmoid"), keras.layers.Dense(1),
              keras.layers.Activation("linear" if fixed else "sigmoid")]
    return full_batch(compiled(layers, x[index], y[index], "sgd", "mean_squared_error", 300,
                               150, metrics=()))


def so_52800582(fixed: bool = False) -> Setup:
    """y = x^4 on x in [-100, 100] through Dense 50 sigmoid, Dense 50 ELU and a linear output,
    mean squared error, Adam, full batch (fix: standardise x and y). 1,000 epochs there, 300
    here."""
    x = np.arange(-100.0, 100.0, 0.5, dtype=np.float32)[:, None]
    y = x**4
    if fixed:
        x, y = data.standardized(x), data.standardized(y)
    layers = [keras.layers.Dense(50), keras.layers.Activation("sigmoid"), keras.layers.Dense(50),
              keras.layers.Activation("elu"), keras.layers.Dense(1)]
    return full_batch(compiled(layers, x, y, "adam", "mse", 300, len(x), metrics=()))


def so_48934338(fixed: bool = False) -> Setup:
    """y = 5x^2 + noise^3 on x in [0, 5) through Dense 50 and 30 ReLU, mean squared error,
    SGD at 0.1, batch 32 (fix: SGD at 0.001). 1,000 epochs there, 50 here."""
    x = np.arange(0.0, 5.0, 0.1, dtype=np.float32)[:, None]
    y = (5 * x**2 + np.random.default_rng(7).standard_normal((50, 1)) ** 3).astype(np.float32)
    layers = [keras.layers.Dense(50), keras.layers.Activation("relu"),
              keras.layers.Dense(30, **UNIFORM), keras.layers.Activation("relu"),
              keras.layers.Dense(1), keras.layers.Activation("linear")]
    optimizer = keras.optimizers.SGD(learning_rate=0.001 if fixed else 0.1)
    return repeated(compiled(layers, x, y, optimizer, "mse", 50, 32, metrics=()), 10)


def so_44066044(fixed: bool = False) -> Setup:
    """Raw network-packet fields (IPv4 addresses as integers near 3.2e9, ports, sizes) through
    Dense 12 and 12 ReLU with N(0, 0.05) weights and a ReLU output, binary cross-entropy, Adam,
    batch 5 (fix: standardise the inputs, sigmoid output). The question's 20-row CSV is
    replaced by 200 rows of the same fields, labelled by packet size."""
    rng = np.random.default_rng(4)
    size = rng.integers(0, 65280, 200)
    x = np.stack([3232235778 + rng.integers(0, 2, 200), 3232235779 + rng.integers(0, 2, 200),
                  np.full(200, 6), np.full(200, 128), rng.integers(8192, 525568, 200),
                  rng.integers(502, 56783, 200), rng.integers(0, 13, 200), size,
                  rng.integers(0, 7, 200), np.zeros(200), rng.integers(0, 208, 200)], axis=1)
    y = (size > 40000).astype(np.float32)
    x = data.standardized(x) if fixed else x.astype(np.float32)
    layers = [keras.layers.Dense(12, **NORMAL), keras.layers.Activation("relu"),
              keras.layers.Dense(12, **NORMAL), keras.layers.Activation("relu"),
              keras.layers.Dense(1, **NORMAL),
              keras.layers.Activation("sigmoid" if fixed else "relu")]
    return compiled(layers, x, y, "adam", "binary_crossentropy", 20, 5)

