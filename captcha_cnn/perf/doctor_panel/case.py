"""One panel case: a real failing Keras program (or its fix, or a healthy model) ported to Keras 3.

A case builds everything `model.fit` needs from a seed (`Setup`), says which verdict the doctor
should give (`expected`), and says what goes wrong without the doctor (`symptom`, checked by
`calibrated` on a plain fit's numbers), so the panel first proves the failure is real.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

# Verdicts that call for action; `learning` and `plateau` (a slow start) are not alarms.
QUIET = ("learning", "plateau")


@dataclass
class Setup:
    """What one fit needs: the compiled model, the data, fit's keyword arguments, the probe."""

    model: object
    x: object
    y: object
    fit: dict
    probe: tuple
    steps_per_pass: int | None = None  # Steps per pass over the data, if not fit's epochs.


@dataclass(frozen=True)
class Calibration:
    """A plain fit's numbers: the loss before and after, the accuracy after (None when the
    program compiles no accuracy), whether any epoch's loss was not finite, and the spread
    (standard deviation over the data) of the outputs after training."""

    loss_before: float
    loss_after: float
    accuracy: float | None
    non_finite: bool
    spread: float
    seconds: float

    @property
    def loss_fell(self) -> float:
        """The share of the starting loss that training removed (0 if it rose or broke)."""
        if self.non_finite or not math.isfinite(self.loss_before) or self.loss_before <= 0:
            return 0.0
        return max(0.0, 1.0 - self.loss_after / self.loss_before)


@dataclass(frozen=True)
class Case:
    """A panel case. `kind` is "faulty", "fixed" (the faulty program's published fix) or
    "healthy"; `expected` is the verdict kind the doctor should reach (for fixed and healthy
    cases: `learning`, and no alarm on the way); `anchors` what the published tools reported."""

    id: str
    kind: str
    source: str
    benchmark: str
    expected: str
    symptom: str
    calibrated: Callable[[Calibration], bool]
    build: Callable[[int], Setup]
    anchors: dict = field(default_factory=dict)
    also: tuple[str, ...] = ()  # Other verdicts that name the same cause (said in `symptom`).
    allowed: tuple[str, ...] = ()  # Alarms a fix may raise on the way, each justified in `symptom`.

    def right(self, kind: str) -> bool:
        return kind == self.expected or kind in self.also


# Calibration checks, named so the table can say what was checked.

def stuck_below(accuracy: float) -> Callable[[Calibration], bool]:
    return lambda c: c.accuracy is not None and c.accuracy < accuracy


def not_finite(c: Calibration) -> bool:
    return c.non_finite


def falls_less_than(share: float) -> Callable[[Calibration], bool]:
    return lambda c: not c.non_finite and c.loss_fell < share


def reaches(accuracy: float) -> Callable[[Calibration], bool]:
    return lambda c: c.accuracy is not None and c.accuracy >= accuracy and not c.non_finite


def constant_output(c: Calibration) -> bool:
    """The outputs are the same for every input (a softmax over one unit is always 1)."""
    return c.spread < 1e-6


def loss_stays_above(level: float) -> Callable[[Calibration], bool]:
    return lambda c: not c.non_finite and c.loss_after > level


def loss_ends_below(level: float) -> Callable[[Calibration], bool]:
    return lambda c: not c.non_finite and c.loss_after < level


def falls_by(share: float) -> Callable[[Calibration], bool]:
    return lambda c: c.loss_fell >= share
