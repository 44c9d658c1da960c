"""One verdict from a run's signals: is it dead, hiding a bug, diverging, or just slow?

Pure Python, no TensorFlow: the Keras callback, the training loop and the offline reader of
`metrics.jsonl` all feed `Observation`s to a `Diagnosis` and read the same `Verdict`s back.

The kinds, in the order they are tried (the first that holds is the verdict):
- `diverging`: the loss is NaN or infinite, or more than twice where it started;
- `dead`: some ReLU layer has no unit that fires for any probe input, or some layer gets a gradient
  of exactly 0; no optimizer can bring such a network back, so once dead a run stays dead until
  it learns (which would prove the verdict wrong, and the timeline shows it);
- `hiding`: the loss is fed probabilities, so it has a floor above 0, yet accuracy has left
  chance: the curves look healthy while the loss cannot fall;
- `probabilities_as_logits`: the loss is fed probabilities where it expects logits (a second
  softmax), and nothing has moved yet;
- `plateau`: the loss sits at its starting or chance level, units alive, gradients reaching every
  layer: a slow start, not a dead network;
- `learning`: accuracy has left chance, or the loss has fallen below where it started.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from captcha_cnn.core.config_rules import VERDICT_KINDS
from captcha_cnn.model.levels import STALLED_FACTOR

KINDS = VERDICT_KINDS  # The order above; config.py holds it so doctor.stop_on can be checked.
# The loss has fallen off its plateau once it is this fraction below its start (or chance).
PLATEAU_TOLERANCE = 0.02
# A loss more than this multiple of where it started (or of chance, if higher) is diverging.
DIVERGING_FACTOR = 2.0

ADVICE = {
    "diverging": "lower the learning rate (by 3x to 10x) or clip gradients; a diverged "
                 "checkpoint cannot be resumed",
    "dead": "restart from new weights: smaller learning rate, He or Glorot initialisation, "
            "biases at 0 or slightly positive, or LeakyReLU; waiting will not help",
    "hiding": "the loss is computed on probabilities: give it the raw logits (no softmax "
              "before a loss 'with logits'); the accuracy will keep its gains and the loss can "
              "reach 0",
    "probabilities_as_logits": "remove the softmax before the loss, or pass "
                               "from_logits=False, so the loss sees logits once",
    "plateau": "nothing is broken yet: keep training, or try a larger learning rate; watch for "
               "'dead' (units dying on the plateau)",
    "learning": "nothing to do",
}


@dataclass(frozen=True)
class Observation:
    """What one look at a model gave: its loss, and where known its accuracy, the share of
    units that never fire per ReLU layer and the gradient norm per layer."""

    step: int
    loss: float
    accuracy: float | None = None
    dead: Mapping[str, float] = field(default_factory=dict)
    gradients: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Levels:
    """What a loss and an accuracy are read against. `chance_loss` is the loss of uniform
    outputs (None if not known: the first observation's loss stands in), `floor` the lowest
    value the loss can reach, `probabilities_as_logits` whether the loss is fed probabilities."""

    chance_loss: float | None = None
    chance_accuracy: float | None = None
    floor: float = 0.0
    probabilities_as_logits: bool = False


@dataclass(frozen=True)
class Verdict:
    """The kind, the step since which it holds (`step`), the step of the observation that gave
    it (`at`), one sentence of evidence and what to do."""

    kind: str
    step: int
    at: int
    evidence: str
    advice: str

    def __str__(self) -> str:
        return f"{self.kind} since step {self.step:,}: {self.evidence}; {self.advice}"


class Diagnosis:
    """Verdicts over a run, one per observation, in order. `add` judges the next observation
    in the light of the ones before (where the loss started, whether the network died)."""

    def __init__(self, levels: Levels):
        self.levels = levels
        self.history: list[Verdict] = []
        self._start_loss: float | None = None
        self._start_accuracy: float | None = None

    @property
    def verdict(self) -> Verdict | None:
        return self.history[-1] if self.history else None

    def add(self, observation: Observation) -> Verdict:
        if self._start_loss is None and math.isfinite(observation.loss):
            self._start_loss = observation.loss
            self._start_accuracy = observation.accuracy
        kind, evidence = self._judge(observation)
        previous = self.verdict
        since = previous.step if previous is not None and previous.kind == kind else observation.step
        verdict = Verdict(kind, since, observation.step, evidence, ADVICE[kind])
        self.history.append(verdict)
        return verdict

    def _judge(self, obs: Observation) -> tuple[str, str]:
        levels = self.levels
        start = self._start_loss if self._start_loss is not None else obs.loss
        chance = levels.chance_loss if levels.chance_loss is not None else start
        non_finite = [name for name, norm in obs.gradients.items() if not math.isfinite(norm)]
        if not math.isfinite(obs.loss) or non_finite:
            what = f"the loss is {obs.loss}" if not math.isfinite(obs.loss) else (
                f"the gradient of {', '.join(non_finite)} is not finite")
            return "diverging", what
        if obs.loss > DIVERGING_FACTOR * max(start, chance):
            return "diverging", (f"the loss is {obs.loss:.4g}, more than {DIVERGING_FACTOR:g}x "
                                 f"where it started ({start:.4g})")

        left_chance = self._left_chance(obs, start, chance)
        silent = [name for name, share in obs.dead.items() if share >= 1.0]
        no_gradient = [name for name, norm in obs.gradients.items() if norm == 0.0]
        was_dead = self.verdict is not None and self.verdict.kind == "dead"
        if (silent or no_gradient or was_dead) and not left_chance:
            return "dead", self._dead_evidence(obs, silent, no_gradient)

        accuracy = self._accuracy_words(obs)
        if levels.probabilities_as_logits:
            floor = f"it can never go below its floor of {levels.floor:.4g}"
            if left_chance:
                return "hiding", f"{accuracy}, while the loss ({obs.loss:.4g}) is fed " \
                                 f"probabilities and {floor}"
            return "probabilities_as_logits", (f"the loss is fed probabilities where it expects "
                                               f"logits, so {floor}; {accuracy}")
        if not left_chance:
            return "plateau", (f"the loss ({obs.loss:.4g}) sits at its starting or chance level "
                               f"({start:.4g}, {chance:.4g}); {accuracy}; "
                               f"{self._alive_words(obs)}")
        return "learning", f"{accuracy}; the loss is {obs.loss:.4g}, from {start:.4g}"

    def _left_chance(self, obs: Observation, start: float, chance: float) -> bool:
        """Accuracy at STALLED_FACTOR x chance or more (and x where it started: a random
        network on a small probe can start above chance), or the loss clearly below both its
        start and chance."""
        known = [level for level in (self.levels.chance_accuracy, self._start_accuracy)
                 if level is not None]
        # Once off the plateau, half the margin keeps it off: one noisy look does not undo it.
        was_off = self.verdict is not None and self.verdict.kind in ("learning", "hiding")
        factor = (1.0 + STALLED_FACTOR) / 2 if was_off else STALLED_FACTOR
        if obs.accuracy is not None and known and obs.accuracy >= factor * max(known):
            return True
        return obs.loss < (1.0 - PLATEAU_TOLERANCE) * min(start, chance)

    def _accuracy_words(self, obs: Observation) -> str:
        if obs.accuracy is None:
            return "accuracy not measured"
        chance = self.levels.chance_accuracy
        against = f" (chance {chance:.1%})" if chance is not None else ""
        return f"accuracy {obs.accuracy:.1%}{against}"

    @staticmethod
    def _dead_evidence(obs: Observation, silent: list[str], no_gradient: list[str]) -> str:
        parts = []
        if no_gradient:
            parts.append(f"{_names(no_gradient)} get{'s' if len(no_gradient) == 1 else ''} "
                         f"no gradient (exactly 0)")
        if silent:
            parts.append(f"no unit of {_names(silent)} fires for any probe input")
        if not parts:  # Dead before, and not back: say how it looks now.
            smallest = min(obs.gradients.items(), key=lambda item: item[1], default=None)
            parts.append("still at chance since the network died"
                         + (f" (smallest layer gradient: {smallest[0]} {smallest[1]:.2g})"
                            if smallest else ""))
        return "; ".join(parts)

    @staticmethod
    def _alive_words(obs: Observation) -> str:
        words = []
        if obs.dead:
            name, share = max(obs.dead.items(), key=lambda item: item[1])
            words.append(f"units alive in every layer (most silent: {name}, {share:.0%})")
        if obs.gradients:
            name, norm = min(obs.gradients.items(), key=lambda item: item[1])
            words.append(f"gradients reach every layer (smallest: {name}, {norm:.2g})")
        return "; ".join(words) or "units and gradients not measured"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"


def timeline(verdicts: list[Verdict]) -> list[tuple[str, int, int]]:
    """The verdicts as spans: (kind, first step, last step), one per run of the same kind."""
    spans: list[tuple[str, int, int]] = []
    for verdict in verdicts:
        if spans and spans[-1][0] == verdict.kind:
            spans[-1] = (verdict.kind, spans[-1][1], verdict.at)
        else:
            spans.append((verdict.kind, verdict.at, verdict.at))
    return spans


def describe_timeline(verdicts: list[Verdict]) -> str:
    """E.g. 'plateau 100-1,000; learning from 1,100' (the last span is open)."""
    spans = timeline(verdicts)
    words = [f"{kind} {first:,}-{last:,}" if first != last else f"{kind} at {first:,}"
             for kind, first, last in spans[:-1]]
    if spans:
        words.append(f"{spans[-1][0]} from {spans[-1][1]:,}")
    return "; ".join(words)
