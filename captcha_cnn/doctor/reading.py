"""The doctor's reading of one compiled model's outputs against its probe: accuracy, chance
levels and the pitfall's forms (loss_reading.py has the arithmetic), and targets its outputs
cannot reach. Decided once per compiled loss, at the first look where the readings differ."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from captcha_cnn.doctor import loss_reading as lr
from captcha_cnn.doctor.model_reading import RANGES
from captcha_cnn.doctor.verdict import Levels
from captcha_cnn.model.levels import loss_levels
from captcha_cnn.model.pitfall import in_unit_range, looks_like_probabilities

# Targets the output's activation cannot reach: this share of the probe's target values, beyond
# the activation's bounds by more than EPSILON (float rounding of labels such as 1.0).
UNREACHABLE_SHARE = 0.01
EPSILON = 1e-6


class Reading:
    """`accuracy(outputs)` and `read(outputs, loss)`: the Levels once decided (else None), with
    `notes` to say once. `outputs` is the model's list of outputs as float arrays."""

    def __init__(self, targets, block_size: int | None, loss, activations: list, dtype: str):
        self.targets, self.block_size, self.loss = targets, block_size, loss
        self.activations, self.notes = activations, []
        self._target_spreads: dict[tuple, float | None] = {}
        self.tolerance = lr.PROBABILITY_TOLERANCE.get(dtype, 1e-3)
        self.match = lr.LOSS_MATCH_TOLERANCE.get(dtype, 1e-3)

    def _classes(self, output: np.ndarray) -> int:
        return self.block_size or output.shape[-1]

    def _blocks(self, output: np.ndarray) -> np.ndarray:
        return output.reshape(output.shape[0], -1, self._classes(output))

    def _single(self, outputs: list) -> np.ndarray | None:
        if len(outputs) != 1 or isinstance(self.targets, (list, dict)):
            return None
        return outputs[0]

    def accuracy(self, outputs: list) -> float | None:
        output = self._single(outputs)
        if output is None:
            return None
        blocks = lr.class_blocks(self.targets, output, self._classes(output))
        if blocks is not None:
            predicted = self._blocks(output).argmax(axis=-1)
            return float(np.mean(predicted == blocks.argmax(axis=-1)))
        units = lr.binary_units(self.targets, output)
        if units is None:
            return None
        threshold = 0.5 if in_unit_range(output, self.tolerance) else 0.0
        return float(np.mean((output.reshape(units.shape) > threshold) == (units > 0.5)))

    def spread(self, outputs: list) -> float | None:
        """How much the outputs vary over the probe, as a share of how much the targets do
        (each the largest standard deviation over examples of one unit): near 0, the outputs
        do not depend on the input. None for several outputs or targets of another shape."""
        output = self._single(outputs)
        if output is None or not len(output):
            return None
        target_spread = self._target_spread(output)
        if target_spread is None:
            return None
        return float(output.reshape(len(output), -1).std(axis=0).max()) / target_spread

    def _target_spread(self, output: np.ndarray) -> float | None:
        """The targets' largest standard deviation over examples of one unit, read as outputs
        of this shape read them (once per shape: the probe does not change between looks)."""
        shape = output.shape
        if shape not in self._target_spreads:
            blocks = lr.class_blocks(self.targets, output, self._classes(output))
            targets = np.asarray(blocks if blocks is not None else self.targets, np.float64)
            targets = targets.reshape(len(targets), -1)
            spread = (float(targets.std(axis=0).max())
                      if targets.shape == output.reshape(len(output), -1).shape else None)
            self._target_spreads[shape] = (spread if spread is not None and np.isfinite(spread)
                                           and spread > 0.0 else None)
        return self._target_spreads[shape]

    def read(self, outputs: list, loss: float) -> Levels | None:
        output = self._single(outputs)
        if output is None:
            self.notes.append("accuracy, chance levels and the probabilities check read one "
                              "output against one target; this model has several: the loss is "
                              "judged against where it started")
            return Levels(unreachable=self._unreachable(outputs))
        unreachable = self._unreachable(outputs)
        if output.shape[-1] == 1 and self.activations[0] == "softmax" or (
                output.shape[-1] == 1 and output.size and np.all(output == 1.0)
                and self.activations[0] in (None, "softmax")):
            return Levels(one_unit_softmax=True, unreachable=unreachable)
        blocks = lr.class_blocks(self.targets, output, self._classes(output))
        units = lr.binary_units(self.targets, output)
        if blocks is None and units is None:
            return self._values(output, loss, unreachable)
        candidates = {}
        if blocks is not None:
            logits = not looks_like_probabilities(self._blocks(output), tolerance=self.tolerance)
            candidates.update(lr.softmax_candidates(blocks, self._blocks(output), logits))
        if units is not None:
            candidates.update(lr.sigmoid_candidates(units, output.reshape(units.shape)))
        closest = min(candidates, key=lambda reading: abs(loss - candidates[reading]))
        levels = self._chance(blocks, units, closest, output, unreachable)
        if not self._matches(loss, candidates[closest]):
            # Above every reading (a regularizer adds to it; Keras reads the logits behind a
            # saturated softmax, far past its clipped probabilities), the targets' own chance
            # still bounds it from below: a loss that has not come down to it has not left it.
            above = loss > candidates[closest]
            self.notes.append("the compiled loss is not a plain cross-entropy of these outputs "
                              "(a regularizer, label smoothing, Keras reading the logits behind "
                              "a softmax, or another loss): the probabilities check is off, and "
                              "the loss is judged against "
                              + ("the targets' chance level" if above else "where it started"))
            if not above:
                return replace(levels, chance_loss=None)
            # Which reduction the loss uses is not known: the lower (mean) chance is the bound.
            mean = closest._replace(reduction="mean")
            return self._chance(blocks, units, mean, output, unreachable)
        rivals = [value for reading, value in candidates.items()
                  if reading[:2] != closest[:2]]  # Another family or kind, either reduction.
        # Outputs still (near) uniform give readings that cannot be told apart yet. A rival is
        # told apart once it is SEPARATION x farther from the loss than the closest reading, and
        # farther than float32's rounding: the loss is computed in float32 from the same outputs
        # even under mixed precision, so bfloat16's coarse outputs need no coarser test here.
        error = abs(loss - candidates[closest])
        if any(abs(loss - value) <= max(lr.SEPARATION * error, lr.FLOAT32_NOISE * abs(loss))
               for value in rivals):
            return None
        return self._pitfall(levels, closest, output, blocks, units)

    def _chance(self, blocks, units, closest: lr.Reading, output, unreachable: str) -> Levels:
        """The best constant guess's accuracy and loss on these targets (chance_levels)."""
        summed = closest.reduction == "sum"
        if closest.family == "softmax":
            accuracy, per_block = lr.class_chance(blocks)
            factor = blocks.shape[1] if summed else 1
            return Levels(chance_loss=per_block * factor, chance_accuracy=accuracy,
                          uniform_loss=math.log(blocks.shape[-1]) * factor,
                          unreachable=unreachable)
        accuracy = lr.class_chance(blocks)[0] if blocks is not None else lr.unit_chance(units)[0]
        per_unit = lr.unit_chance(units)[1]
        if closest[:2] == ("sigmoid", "logits") and in_unit_range(output, self.tolerance):
            per_unit = lr.twin_levels(units)[0]  # Logits held in [0, 1]: a higher best constant.
        factor = units.shape[1] if summed else 1
        return Levels(chance_loss=per_unit * factor, chance_accuracy=accuracy,
                      uniform_loss=math.log(2.0) * factor, unreachable=unreachable)

    def _pitfall(self, levels: Levels, closest: lr.Reading, output, blocks, units) -> Levels:
        summed = closest.reduction == "sum"
        classes = self._classes(output)
        softmax_floor = loss_levels("softmax_then_logits", "per_char", 1, classes)["floor"]
        probabilities = looks_like_probabilities(self._blocks(output), tolerance=self.tolerance)
        if closest.family == "softmax" and (closest.kind == "twice"
                                            or closest.kind == "logits" and probabilities):
            factor = blocks.shape[1] if summed else 1
            return replace(levels, probabilities_as_logits=True, floor=softmax_floor * factor)
        # Linear outputs that happen to lie in [0, 1] are logits, not probabilities.
        if closest[:2] == ("sigmoid", "logits") and in_unit_range(output, self.tolerance) \
                and self.activations[0] != "linear":
            floor = lr.twin_levels(units)[1] * (units.shape[1] if summed else 1)
            return replace(levels, probabilities_as_logits=True, floor=floor,
                           probabilities_kind="sigmoid")
        if probabilities and classes > 1 and lr.uses_keras_from_logits(self.loss):
            self.notes.append(
                "the model outputs probabilities and its Keras loss says from_logits=True: "
                "Keras quietly reads the logits behind the softmax, so this trains correctly "
                "here, but tf.nn.softmax_cross_entropy_with_logits or a custom loss would apply "
                f"a second softmax (the loss would then never fall below {softmax_floor:.3f} per "
                f"block of {classes})")
        return levels

    def _values(self, output, loss: float, unreachable: str) -> Levels:
        """Levels for targets that are values, not classes: the best constant output's loss
        where the compiled loss is a plain squared or absolute error of these outputs."""
        for name, (value, constant) in lr.regression_candidates(self.targets, output).items():
            if self._matches(loss, value):
                self.notes.append(f"the targets are not class labels: no accuracy; the loss "
                                  f"({name}) is judged against the best constant output's, "
                                  f"{constant:.4g}")
                return Levels(chance_loss=constant, unreachable=unreachable)
        self.notes.append("the targets are not class labels (one per block, or 0/1 per unit), "
                          "and the loss is not a plain squared or absolute error of the outputs: "
                          "no accuracy, no probabilities check; the loss is judged against where "
                          "it started")
        return Levels(unreachable=unreachable)

    def _matches(self, value: float, reference: float) -> bool:
        return abs(value - reference) <= self.match * max(abs(reference), 1e-6)

    def _unreachable(self, outputs: list) -> str:
        """Evidence that an output's activation cannot reach its targets' values, or ''."""
        targets = self.targets
        if isinstance(targets, dict):
            targets = [targets[key] for key in sorted(targets)] if len(targets) > 1 else \
                list(targets.values())
        targets = targets if isinstance(targets, list) else [targets]
        if len(targets) != len(outputs):
            return ""
        for index, (output, target, activation) in enumerate(
                zip(outputs, targets, self.activations, strict=True)):
            low, high = RANGES.get(activation, (-math.inf, math.inf))
            if target.size != output.size or target.dtype.kind not in "fiu":
                continue  # Class labels are not values the output must reach.
            values = target.astype(np.float64)
            share = float(np.mean((values < low - EPSILON) | (values > high + EPSILON)))
            if share >= UNREACHABLE_SHARE:
                where = f"output {index} " if len(outputs) > 1 else "the output "
                return (f"{where}comes out of a {activation}, which reaches only "
                        f"[{low:g}, {high:g}], but {share:.0%} of the probe's targets lie "
                        f"outside ({values.min():.3g} to {values.max():.3g})")
        return ""
