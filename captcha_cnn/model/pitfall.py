"""The pitfall detector: what a softmax cross-entropy op is given, checked before training.

(The signals that tell "the bug" from "the optimizer is slow" during training are in
captcha_cnn.train.steps and captcha_cnn.model.unit_health; captcha_cnn.doctor reads them.)

The detector looks at what a softmax cross-entropy op is actually given:
- `logits` that are already probabilities (non-negative, at most 1, summing to 1 along the class
  axis) have been through a softmax: the op will apply a second one (the seed's bug);
- label rows that do not sum to 1 make TensorFlow's fused op return a wrong gradient
  (`softmax(logits) - labels` is the gradient only for rows summing to 1).

Use it on your own tensors:

    from captcha_cnn.model.pitfall import check_softmax_cross_entropy_inputs
    for problem in check_softmax_cross_entropy_inputs(labels, logits):
        print(problem)
"""

from __future__ import annotations

import sys

import numpy as np

# Softmax outputs sum to 1 up to float32 rounding; raw logits essentially never do, all rows at once.
SUM_TOLERANCE = 1e-3

PROBABILITIES_AS_LOGITS = (
    "the tensor passed as `logits` looks like probabilities (every value in [0, 1], each row "
    "summing to 1): it has probably been through a softmax already, and "
    "softmax_cross_entropy_with_logits applies its own, so the loss is capped above its true "
    "minimum and its gradient shrinks. Fix: pass the raw pre-softmax outputs as `logits`.")

LABEL_ROWS_NOT_ONE = (
    "label rows sum to {sums} instead of 1 in a softmax cross-entropy: the loss value is still "
    "the cross-entropy, but TensorFlow's fused op computes the gradient as softmax(logits) - "
    "labels, which is only correct when each row sums to 1. Fix: one softmax per character "
    "(loss.layout: per_char) or labels divided by their sum (loss.layout: flat_normalized).")


class PitfallError(ValueError):
    """Raised instead of a warning when the config asks for errors."""


def in_unit_range(values, tolerance: float = SUM_TOLERANCE) -> bool:
    """Every value in [0, 1], within `tolerance`: what a softmax or a sigmoid can output."""
    values = np.asarray(values, dtype=np.float64)
    return bool(values.size and values.min() >= -tolerance and values.max() <= 1 + tolerance)


def looks_like_probabilities(values, axis: int = -1, tolerance: float = SUM_TOLERANCE) -> bool:
    """True if every value is in [0, 1] and every row sums to 1 along `axis`, within
    `tolerance` (float32 rounding by default; the doctor passes a coarser one for bfloat16).
    The one test of "these rows are probabilities", for the pitfall check and the doctor."""
    values = np.asarray(values, dtype=np.float64)
    if not in_unit_range(values, tolerance):
        return False
    return bool(np.all(np.abs(values.sum(axis=axis) - 1.0) <= tolerance))


def check_softmax_cross_entropy_inputs(labels, logits, axis: int = -1) -> list[str]:
    """Plain-words descriptions of what is wrong with these inputs to a softmax cross-entropy."""
    problems = []
    if looks_like_probabilities(logits, axis):
        problems.append(PROBABILITIES_AS_LOGITS)
    sums = np.asarray(labels, dtype=np.float64).sum(axis=axis)
    if np.any(np.abs(sums - 1.0) > SUM_TOLERANCE):
        shown = ", ".join(f"{value:g}" for value in np.unique(np.round(sums, 4))[:5])
        problems.append(LABEL_ROWS_NOT_ONE.format(sums=shown))
    return problems


def check_loss_inputs(loss, labels, logits_argument, mode: str = "warn") -> list[str]:
    """Check a registry loss's arranged inputs once; warn on stderr, raise, or stay silent.

    `loss` is a captcha_cnn.model.losses.Loss; only softmax cross-entropies are checked, since a sigmoid
    loss takes independent probabilities per entry and multi-hot labels are right for it.
    """
    if mode == "off" or not loss.uses_softmax:
        return []
    problems = check_softmax_cross_entropy_inputs(labels, logits_argument)
    if problems and mode == "error":
        raise PitfallError(problems[0])
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return problems
