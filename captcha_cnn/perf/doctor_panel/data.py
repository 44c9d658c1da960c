"""Stand-ins for the data the original programs downloaded: scikit-learn's bundled sets and
the synthetic sets the originals themselves drew (AUTOTRAINER's circles and blobs), small
enough that each fit takes seconds on a CPU."""

from __future__ import annotations

import numpy as np


def digits(scale: float = 16.0, classes: int = 10):
    """scikit-learn's 8x8 digits (1,797 images, MNIST's stand-in), flat, pixels / `scale`
    (16 gives [0, 1], as MNIST / 255 does; 1/16 gives MNIST's raw 0-255 range)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < classes
    return (data.data[keep] / scale).astype(np.float32), data.target[keep]


def one_hot(labels, classes: int | None = None):
    classes = int(labels.max()) + 1 if classes is None else classes
    return np.eye(classes, dtype=np.float32)[labels]


def iris():
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype(np.float32), data.target


def standardized(x):
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)


def circles(seed: int = 1, scaled: bool = False):
    """AUTOTRAINER's data/simplednn.py 'circle': make_circles(1000, noise 0.1) times 100, the
    first 700 for training; `scaled`: to [-1, 1] instead, as its commented-out MinMaxScaler
    did."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=1000, noise=0.1, random_state=seed)
    x = (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0)) * 2 - 1 if scaled else x * 100
    return x[:700].astype(np.float32), y[:700].astype(np.float32)


def blobs(seed: int = 2, scaled: bool = False):
    """AUTOTRAINER's 'blob': make_blobs(1000, 3 centres, 2 features, std 2) times 100, one-hot;
    `scaled`: standardised instead."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=seed)
    x = standardized(x) if scaled else x * 100
    return x[:700].astype(np.float32), one_hot(y[:700], 3)


def probe(x, y, size: int = 128, seed: int = 0):
    """A fixed probe of `size` examples (all of them if fewer), drawn without replacement; a data
    set smaller than the doctor's minimum of 8 (XOR's six rows) is repeated up to 8."""
    count = len(y)
    index = np.random.default_rng(seed).permutation(count)[: min(size, count)]
    index = np.resize(index, max(len(index), 8))
    pick = (lambda a: a[index]) if not isinstance(x, (list, tuple)) else None
    inputs = pick(x) if pick else type(x)(a[index] for a in x)
    return inputs, y[index]
