"""The names of the per-layer signals in a metrics row: `dead_conv1`, `grad_norm_conv1`, ...

Written by the training step and unit health, read by the doctor and the plots: the prefixes
live here so that a renamed signal cannot be written under one name and read under another.
"""

from __future__ import annotations

DEAD = "dead_"  # Share of a ReLU layer's units silent for every held-out image.
BIAS_MEAN = "bias_mean_"  # Mean of that layer's bias over its units.
BIAS_STD = "bias_std_"  # Spread of that layer's bias over its units.
GRADIENT = "grad_norm_"  # Norm of the gradient of the layer's weights.


def per_layer(row: dict, prefix: str) -> dict[str, float]:
    """The row's signals of one kind, by layer name: {"conv1": 0.25, ...}."""
    return {key[len(prefix):]: value for key, value in row.items() if key.startswith(prefix)}
