"""Stack Overflow programs from DeepLocalize's benchmark (Wardat et al., ICSE 2021,
github.com/Wardat-ISU/DeepLocalize, Benchmark/StackOverflow/<question>/), the set DeepDiagnosis
(ICSE 2022, github.com/DeepDiagnosis/ICSE2022, 'Table 6') also ran. Each builder ports the
buggy program (`fixed=False`) or its fix as the benchmark's Benchmark.xlsx gives it: same
layers, activations, initialisers, loss, optimizer and learning rate; the data swapped for a
bundled or synthetic stand-in and fewer epochs. Keras 1's init='uniform' is RandomUniform(+-0.05)
and init='normal' RandomNormal(0.05), as they were; SGD's `decay` has no Keras 3 twin and is
dropped (1e-6 per step changes nothing over a few hundred steps)."""

from __future__ import annotations

import keras
import numpy as np

from captcha_cnn.perf.doctor_panel import data
from captcha_cnn.perf.doctor_panel.case import Setup

# By name, so that each layer makes its own initializer: one instance shared by several layers
# gives every layer of a shape the same weights, from a seed drawn when the instance was made
# (at import, out of keras.utils.set_random_seed's reach). Keras 3's defaults for these names
# are Keras 1's: RandomUniform(+-0.05) and RandomNormal(0.05).
UNIFORM = {"kernel_initializer": "random_uniform"}
NORMAL = {"kernel_initializer": "random_normal"}


def compiled(layers, x, y, optimizer, loss, epochs, batch_size, metrics=("accuracy",)):
    """The Sequential model of `layers`, compiled as the program did, with its fit arguments."""
    model = keras.Sequential([keras.Input(shape=np.shape(x)[1:]), *layers])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return Setup(model, x, y, {"epochs": epochs, "batch_size": batch_size}, data.probe(x, y))


def full_batch(setup: Setup, repeats: int = 10) -> Setup:
    """The same full-batch training, in fewer and longer epochs: the data repeated `repeats`
    times, unshuffled, so each batch is still exactly the whole data set once (Keras spends
    ~0.1 s on each epoch's bookkeeping, which dominates one-batch epochs)."""
    count = len(setup.y)
    setup.x, setup.y = np.tile(setup.x, (repeats, 1)), np.tile(setup.y, (repeats, 1))
    epochs = setup.fit["epochs"]
    setup.fit = {"epochs": max(1, epochs // repeats), "batch_size": count, "shuffle": False}
    setup.steps_per_pass = 1
    return setup


def repeated(setup: Setup, repeats: int) -> Setup:
    """The same minibatch training in fewer, longer epochs: the data repeated `repeats` times
    per epoch, still shuffled (a batch may hold an example twice, which changes nothing a
    diagnosis reads), for programs of a few batches per epoch, where Keras's ~0.1 s of
    bookkeeping per epoch would dominate."""
    setup.steps_per_pass = -(-len(setup.y) // setup.fit["batch_size"])
    reps = (repeats,) + (1,) * (np.ndim(setup.x) - 1)
    setup.x, setup.y = np.tile(setup.x, reps), np.tile(setup.y, (repeats,) + (1,) * (np.ndim(setup.y) - 1))
    setup.fit = {**setup.fit, "epochs": max(1, setup.fit["epochs"] // repeats)}
    return setup


def so_31880720(fixed: bool = False) -> Setup:
    """A ReLU MLP for 128 ones vs 128 zeros ends in Dense(1) + softmax under binary
    cross-entropy (fix: sigmoid). 10^4 examples a class and 3 epochs at batch 1 in the
    original; 200 a class and 1 epoch here."""
    x = np.array([[1.0] * 128] * 200 + [[0.0] * 128] * 200, dtype=np.float32)
    y = np.array([1.0] * 200 + [0.0] * 200, dtype=np.float32)
    layers = [keras.layers.Dense(50, activation="relu"), keras.layers.Activation("relu"),
              keras.layers.Dropout(0.2), keras.layers.Dense(50), keras.layers.Activation("relu"),
              keras.layers.Dropout(0.2), keras.layers.Dense(1),
              keras.layers.Activation("sigmoid" if fixed else "softmax")]
    return compiled(layers, x, y, keras.optimizers.RMSprop(), "binary_crossentropy", 1, 1)


def so_34311586(fixed: bool = False) -> Setup:
    """XOR on six rows through sigmoid layers of 2 and 3 units, then Dense(1) + softmax, mean
    squared error, SGD 0.001, 20 epochs of one batch (fix: sigmoid output, SGD 0.1, batch 4,
    10,000 epochs: 20,000 steps). The fix's rows are repeated 200 times so that its steps fit
    in 4 epochs rather than 10,000 (Keras spends ~0.1 s on each epoch's bookkeeping)."""
    x = np.array([[1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    y = np.array([[0], [0], [1], [1], [0], [0]], dtype=np.float32)
    layers = [keras.layers.Dense(2, **UNIFORM), keras.layers.Activation("sigmoid"),
              keras.layers.Dense(3, **UNIFORM), keras.layers.Activation("sigmoid"),
              keras.layers.Dense(1, **UNIFORM),
              keras.layers.Activation("sigmoid" if fixed else "softmax")]
    optimizer = keras.optimizers.SGD(learning_rate=0.1 if fixed else 0.001, momentum=0.9,
                                     nesterov=True)
    if fixed:
        x, y = np.tile(x, (200, 1)), np.tile(y, (200, 1))
        return compiled(layers, x, y, optimizer, "mean_squared_error", 4, 4)
    return compiled(layers, x, y, optimizer, "mean_squared_error", 20, 32)


def so_45442843(fixed: bool = False) -> Setup:
    """One raw feature (integers 15,000-25,000) into Dense(1) + sigmoid, then Dense(1) +
    softmax under mean absolute error, RMSprop, batch 200, 100 epochs there, 20 here (fix:
    sigmoid output, binary cross-entropy).
    The question's CSV (1,000 rows, label 1 exactly when the feature is at most 20,000) is
    redrawn by the same rule. The fix leaves the raw inputs, which pin the first sigmoid."""
    rng = np.random.default_rng(7)
    x = rng.integers(15041, 24988, size=(1000, 1)).astype(np.float32)
    y = (x[:, 0] <= 20000).astype(np.float32)
    layers = [keras.layers.Dense(1), keras.layers.Activation("sigmoid"),
              keras.layers.Dense(1, **NORMAL),
              keras.layers.Activation("sigmoid" if fixed else "softmax")]
    loss = "binary_crossentropy" if fixed else "mean_absolute_error"
    return compiled(layers, x[:800], y[:800], keras.optimizers.RMSprop(), loss, 20, 200)


def so_45337371(fixed: bool = False) -> Setup:
    """Uniform random inputs [N, 5, 1] and targets, Dense 60 and 50 ReLU, Dense(1) + softmax,
    binary cross-entropy, Adam, batch 1 (fix: sigmoid). 1,000 examples and 5 epochs in the
    original, 300 and 1 here. The targets are noise, so the fix can only reach ln 2."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(300, 5, 1)).astype(np.float32)
    y = rng.uniform(size=(300, 5, 1)).astype(np.float32)
    layers = [keras.layers.Dense(60), keras.layers.Activation("relu"), keras.layers.Dense(50),
              keras.layers.Activation("relu"), keras.layers.Dense(1),
              keras.layers.Activation("sigmoid" if fixed else "softmax")]
    return compiled(layers, x, y, keras.optimizers.Adam(), "binary_crossentropy", 1, 1)


def so_33969059(fixed: bool = False) -> Setup:
    """Linear regression y = 2a + b + 0.5c + 2.2 on inputs up to 10,000 through tanh layers of
    3 and 2 units with dropout, ending in Dense(1) + softmax, mean squared error, SGD 0.1
    with Nesterov momentum 0.9 (fix: linear output). 10^5 examples and 20 epochs in the
    original, 2,000 and 2 here."""
    rng = np.random.default_rng(0)
    x = (rng.random((2000, 3)) * 10000).astype(np.float32)
    y = (x @ np.array([2.0, 1.0, 0.5], dtype=np.float32) + 2.2)[:, None]
    layers = [keras.layers.Dense(3, **UNIFORM), keras.layers.Activation("tanh"),
              keras.layers.Dropout(0.5), keras.layers.Dense(2, **UNIFORM),
              keras.layers.Activation("tanh"), keras.layers.Dropout(0.5),
              keras.layers.Dense(1, **UNIFORM),
              keras.layers.Activation("linear" if fixed else "softmax")]
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    return compiled(layers, x, y, optimizer, "mean_squared_error", 2, 32, metrics=())


def so_48385830(fixed: bool = False) -> Setup:
    """MNIST (here digits) through Dense 30 and Dense 10 with no activations, weights and
    biases drawn from N(0, 1), mean squared error, SGD at learning rate 3.0, batch 10 (fix:
    sigmoid hidden layer, softmax output, categorical cross-entropy). 30 epochs there, 3 here."""
    x, labels = data.digits()
    init = {"kernel_initializer": keras.initializers.RandomNormal(stddev=1.0),
            "bias_initializer": keras.initializers.RandomNormal(stddev=1.0)}
    layers = [keras.layers.Dense(30, activation="sigmoid" if fixed else None, **init),
              keras.layers.Dense(10, activation="softmax" if fixed else None, **init)]
    loss = "categorical_crossentropy" if fixed else "mean_squared_error"
    return compiled(layers, x, data.one_hot(labels), keras.optimizers.SGD(learning_rate=3.0),
                    loss, 3, 10)
