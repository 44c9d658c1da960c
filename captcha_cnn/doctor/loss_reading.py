"""What the doctor reads from a model's outputs, the probe's targets and the compiled loss's value:
what accuracy means (argmax per block of classes, or per unit for binary and multi-label
targets; none for other targets), the chance levels of these targets, and whether the loss is
fed probabilities where it expects logits, in each form:
- softmax outputs into a softmax cross-entropy "with logits" (a second softmax), flat or per
  block, one-hot or integer labels;
- outputs in [0, 1] into a sigmoid cross-entropy "with logits" (the sigmoid twin), binary or
  multi-label;
- a softmax over a single unit: the constant 1, so no gradient ever flows.
Each is decided by which cross-entropy of the outputs the compiled loss equals, not by the code.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# Outputs within this of [0, 1] whose blocks sum to 1 within this are probabilities (float32);
# coarser float types get a tolerance their rounding allows (bfloat16 keeps 8 bits).
PROBABILITY_TOLERANCE = {"float32": 1e-3, "float16": 1e-2, "bfloat16": 3e-2}
# The compiled loss "equals" a candidate cross-entropy within this relative difference.
LOSS_MATCH_TOLERANCE = {"float32": 1e-3, "float16": 5e-3, "bfloat16": 2e-2}
# A reading is told apart from its rivals when they are this many times farther from the loss
# than it is, and farther than float32's rounding of a mean over a probe (relative).
SEPARATION = 10.0
FLOAT32_NOISE = 1e-5
KERAS_EPSILON = 1e-7  # keras.config.epsilon(): how far Keras clips probabilities from 0 and 1.


def softplus(values):
    return np.logaddexp(0.0, values)


def log_softmax(values):
    shifted = values - values.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def class_blocks(targets: np.ndarray, outputs: np.ndarray, classes: int) -> np.ndarray | None:
    """The targets as one-hot blocks [examples, blocks, classes] shaped like the outputs' blocks;
    None if they are not one class per block (binary, multi-label or other targets)."""
    if classes < 2 or outputs[0].size % classes:
        return None
    count = outputs[0].size // classes
    if targets.dtype.kind in "iu" and targets.size == len(targets) * count:
        labels = targets.reshape(len(targets), count)
        if labels.min() < 0 or labels.max() >= classes:
            return None
        return np.eye(classes)[labels]
    if targets.size != outputs.size or not is_binary(targets):
        return None
    blocks = targets.reshape(len(targets), count, classes).astype(np.float64)
    return blocks if np.all(blocks.sum(axis=-1) == 1.0) else None


def is_binary(targets: np.ndarray) -> bool:
    return bool(np.all((targets == 0) | (targets == 1)))


def binary_units(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray | None:
    """The targets as [examples, units] of 0/1 matching the outputs; None otherwise."""
    if targets.size != outputs.size or not is_binary(targets):
        return None
    return targets.reshape(len(targets), -1).astype(np.float64)


def class_chance(blocks: np.ndarray) -> tuple[float, float]:
    """(accuracy, loss per block) of the best constant guess: 1/K and ln K when the probe's
    classes are balanced up to sampling noise (three standard errors), else the majority class's
    share and the entropy of the classes."""
    examples, classes = blocks.shape[0] * blocks.shape[1], blocks.shape[-1]
    shares = blocks.reshape(-1, classes).mean(axis=0)
    uniform = 1.0 / classes
    if shares.max() <= uniform + 3 * math.sqrt(uniform * (1 - uniform) / examples):
        return uniform, math.log(classes)
    entropy = -float(sum(share * math.log(share) for share in shares if share > 0))
    return float(shares.max()), entropy


def unit_chance(units: np.ndarray) -> tuple[float, float]:
    """(accuracy, loss per unit) of the best constant guess per unit: the majority value's share,
    and the binary entropy of each unit's targets, both averaged over units."""
    rates = units.mean(axis=0)
    entropy = -(rates * np.log(np.clip(rates, 1e-12, 1)) +
                (1 - rates) * np.log(np.clip(1 - rates, 1e-12, 1)))
    return float(np.maximum(rates, 1 - rates).mean()), float(entropy.mean())


def twin_levels(units: np.ndarray) -> tuple[float, float]:
    """(best constant, floor) per unit of a sigmoid cross-entropy fed p in [0, 1] as logits:
    per unit the floor is softplus(-1) = 0.3133 for a target of 1, ln 2 for a target of 0; the
    best constant p is searched on a grid."""
    rates = units.mean(axis=0)[:, None]
    grid = np.linspace(0.0, 1.0, 101)[None, :]
    constant = (rates * softplus(-grid) + (1 - rates) * softplus(grid)).min(axis=1)
    floor = rates[:, 0] * softplus(-1.0) + (1 - rates[:, 0]) * math.log(2.0)
    return float(constant.mean()), float(floor.mean())


def regression_candidates(targets: np.ndarray, outputs: np.ndarray) -> dict[str, tuple]:
    """For value targets: per loss name, (its value on these outputs, the value of the best
    constant output): mean squared error against the targets' variance, mean absolute error
    against their mean distance from the median; {} if targets and outputs do not line up."""
    if targets.size != outputs.size or not len(targets):
        return {}
    values = targets.reshape(len(targets), -1).astype(np.float64)
    outputs = outputs.reshape(values.shape)
    return {"mean squared error": (float(np.mean((values - outputs) ** 2)),
                                   float(np.mean(values.var(axis=0)))),
            "mean absolute error": (float(np.mean(np.abs(values - outputs))),
                                    float(np.mean(np.abs(values - np.median(values, axis=0)))))}


class Reading(NamedTuple):
    """One way a loss may read the outputs: its `family` (softmax or sigmoid), how it takes
    them (`kind`: as logits, as probabilities, or a softmax twice) and how it reduces over
    blocks or units (mean or sum)."""

    family: str
    kind: str
    reduction: str


def _reduced(family: str, readings: dict, per_block_axis) -> dict[Reading, float]:
    """Each reading's per-example losses, averaged over blocks and summed over them."""
    values = {}
    for kind, per_block in readings.items():
        values[Reading(family, kind, "mean")] = float(per_block.mean())
        values[Reading(family, kind, "sum")] = float(per_block.sum(axis=per_block_axis).mean())
    return values


def softmax_candidates(targets: np.ndarray, blocks: np.ndarray,
                       logits: bool = True) -> dict[Reading, float]:
    """Cross-entropy values on [examples, blocks, classes]: the outputs read as logits (what a
    loss 'with logits' computes: a second softmax if they are probabilities) and as
    probabilities; for `logits` outputs also a softmax applied inside the loss before one 'with
    logits'; each averaged over blocks (mean) or summed (sum)."""
    log_probabilities = {"logits": log_softmax(blocks)}
    if logits:  # A loss applying its own softmax before one 'with logits' doubles it on logits
        # too; on probabilities that is a third softmax, the same mistake as the second.
        log_probabilities["twice"] = log_softmax(np.exp(log_softmax(blocks)))
    if blocks.min() >= 0:  # As Keras reads probabilities: divided by their sum, then clipped
        # (so ReLU outputs, zeros and all, are read as Keras's cross-entropy reads them).
        sums = blocks.sum(axis=-1, keepdims=True)
        shares = np.divide(blocks, sums, out=np.zeros_like(blocks), where=sums > 0)
        log_probabilities["probabilities"] = np.log(np.clip(shares, KERAS_EPSILON,
                                                            1.0 - KERAS_EPSILON))
    per_block = {kind: -(targets * values).sum(axis=-1)
                 for kind, values in log_probabilities.items()}
    return _reduced("softmax", per_block, -1)


def sigmoid_candidates(units: np.ndarray, outputs: np.ndarray) -> dict[Reading, float]:
    """Binary cross-entropy values on [examples, units]: the outputs read as logits (a sigmoid
    cross-entropy 'with logits') and, when in (0, 1), as probabilities."""
    per_unit = {"logits": units * softplus(-outputs) + (1 - units) * softplus(outputs)}
    if outputs.min() >= 0 and outputs.max() <= 1:
        clipped = np.clip(outputs, 1e-7, 1 - 1e-7)
        per_unit["probabilities"] = -(units * np.log(clipped) + (1 - units) * np.log(1 - clipped))
    return _reduced("sigmoid", per_unit, -1)


def uses_keras_from_logits(loss) -> bool:
    """Whether the compiled loss is a Keras loss object configured with from_logits=True."""
    get_config = getattr(loss, "get_config", None)
    try:
        return bool(get_config and get_config().get("from_logits"))
    except (TypeError, NotImplementedError):
        return False
