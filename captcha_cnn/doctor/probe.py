"""The doctor's probe: a fixed batch of inputs and targets, checked before any look.

A probe that cannot work is refused in one sentence naming the problem: when the callback is
made (not a pair, a tf.data dataset, too few examples, NaN or infinite values, examples that do
not line up) or at fit's start, once the model is known (shapes and dtypes that do not fit its
inputs). Inputs and targets may be one array, a list or a dict of arrays, as `fit` takes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# Fewer probe examples than this cannot say that a unit never fires "for any input".
MIN_EXAMPLES = 8


class ProbeError(ValueError):
    """A probe that does not fit: the message is one sentence naming the problem."""


def _as_arrays(structure, what: str):
    """The same structure (array, list, dict) with numpy arrays at its leaves."""
    if isinstance(structure, Mapping):
        return {key: _as_arrays(value, f"{what}[{key!r}]") for key, value in structure.items()}
    # A list of arrays is several inputs (or targets), as fit reads it; a list of numbers is one.
    if isinstance(structure, (list, tuple)) and structure and all(
            hasattr(value, "shape") for value in structure):
        return [_as_arrays(value, f"{what}[{i}]") for i, value in enumerate(structure)]
    try:
        array = np.asarray(structure)
    except (ValueError, TypeError) as error:
        raise ProbeError(f"probe: {what} is not an array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise ProbeError(f"probe: {what} is not numbers (dtype {array.dtype})")
    return array


def leaves(structure) -> list[np.ndarray]:
    if isinstance(structure, Mapping):
        return [leaf for key in sorted(structure) for leaf in leaves(structure[key])]
    if isinstance(structure, list):
        return [leaf for value in structure for leaf in leaves(value)]
    return [structure]


def _float32(structure):
    """Float leaves as float32, as fit feeds them; integer labels and ids stay integers."""
    if isinstance(structure, Mapping):
        return {key: _float32(value) for key, value in structure.items()}
    if isinstance(structure, list):
        return [_float32(value) for value in structure]
    if structure.dtype.kind in "iub":
        return structure.astype(np.int32) if structure.dtype.kind != "b" else structure
    return structure.astype(np.float32)


def check_probe(probe) -> tuple:
    """(inputs, targets) as numpy structures, or a ProbeError."""
    kind = type(probe).__module__ + "." + type(probe).__name__
    if "tensorflow" in kind and "Dataset" in kind:
        raise ProbeError("probe: a tf.data dataset is not a probe; give one fixed batch as "
                         "arrays, e.g. probe=next(iter(dataset.unbatch().batch(128))) as numpy")
    if not isinstance(probe, (tuple, list)) or len(probe) != 2:
        raise ProbeError(f"probe: expected a pair (inputs, targets), got {kind}")
    inputs, targets = (_as_arrays(part, name) for part, name in zip(probe, ("inputs", "targets"),
                                                                    strict=True))
    sizes = {len(leaf) if leaf.ndim else 0 for leaf in leaves(inputs) + leaves(targets)}
    if len(sizes) > 1:
        raise ProbeError(f"probe: inputs and targets do not hold the same number of examples "
                         f"({', '.join(str(size) for size in sorted(sizes))})")
    count = sizes.pop() if sizes else 0
    if count < MIN_EXAMPLES:
        raise ProbeError(f"probe: {count} examples, too few to judge units by (give at least "
                         f"{MIN_EXAMPLES}; 64 to 256 is plenty)")
    for name, part in (("inputs", inputs), ("targets", targets)):
        for leaf in leaves(part):
            if leaf.dtype.kind == "f" and not np.all(np.isfinite(leaf)):
                raise ProbeError(f"probe: the {name} hold NaN or infinite values: the probe is at "
                                 f"fault, not the model; clean it or pick other examples")
    return _float32(inputs), _float32(targets)


def fit_to_model(inputs, model):
    """The inputs cast to the dtypes the model's inputs declare; a ProbeError naming the input
    whose shape or dtype does not fit. Models with no declared inputs (subclassed, sequential
    without an Input) are checked by running the first look instead."""
    declared = getattr(model, "inputs", None)
    try:
        declared = list(declared) if declared else []
    except (AttributeError, ValueError):
        declared = []
    given = leaves(inputs)
    if not declared or len(declared) != len(given) or isinstance(inputs, Mapping):
        return inputs
    fitted = []
    for index, (spec, array) in enumerate(zip(declared, given, strict=True)):
        name = f"input {index} ({getattr(spec, 'name', '?')})" if len(given) > 1 else "inputs"
        shape = tuple(spec.shape)[1:]
        fits = len(shape) == array.ndim - 1 and all(
            want is None or want == have
            for want, have in zip(shape, array.shape[1:], strict=False))
        if not fits:
            raise ProbeError(f"probe: {name} shaped {array.shape[1:]} per example, the model "
                             f"takes {shape}")
        dtype = np.dtype(str(spec.dtype)) if str(spec.dtype) != "bfloat16" else array.dtype
        if dtype.kind in "iu" and array.dtype.kind == "f":
            if not np.all(array == np.round(array)):
                raise ProbeError(f"probe: {name} holds fractions, the model takes integers "
                                 f"({spec.dtype}: ids for an Embedding?)")
            array = array.astype(dtype)
        fitted.append(array)
    return fitted if isinstance(inputs, list) else fitted[0]
