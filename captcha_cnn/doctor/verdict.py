"""One verdict from a run's signals: is it dead, hiding a bug, diverging, or just slow?

Pure Python, no TensorFlow: the Keras callback, the training loop and the offline reader of
`metrics.jsonl` all feed `Observation`s to a `Diagnosis` and read the same `Verdict`s back.

The kinds, in the order they are tried (the first that holds is the verdict):
- `diverging`: the loss is NaN or infinite, or more than twice where it started (or, for a
  classifier at chance once training began, BLOWN_FACTOR times a uniform guess's);
- `exploding`: the largest layer gradient is EXPLODING_FACTOR times its first look's or more,
  while the loss is still finite and not yet twice its start, and not falling (at its start,
  or above its lowest so far): the warning before `diverging`;
- `unreachable_targets`: the output's activation cannot produce the probe's targets (a ReLU
  output for negative targets, a sigmoid for targets outside [0, 1]); no training can fix it;
- `dead`: some ReLU layer has no unit that fires for any probe input, or some layer gets a gradient
  of exactly 0 (a softmax over one unit gives that from the first step); no optimizer can bring
  such a network back, so once dead a run stays dead until it learns (which would prove the
  verdict wrong, and the timeline shows it); so is a ReLU output unit that never fires, even if
  the others learn (its class or value is 0 for every input);
- `hiding`: the loss is fed probabilities, so it has a floor above 0, yet accuracy has left
  chance: the curves look healthy while the loss cannot fall;
- `probabilities_as_logits`: the loss is fed probabilities where it expects logits (a second
  softmax, or a sigmoid output into a sigmoid cross-entropy with logits), and nothing has moved;
- `saturated`: at chance, SATURATED_SHARE of some tanh/sigmoid layer's units (or of its (input,
  unit) pairs; PINNED_SHARE once the loss sat still past the first look) pinned at a bound for
  every probe input, passing almost no gradient; it stays so until the run leaves chance;
- `vanishing`: at chance, the first layer's gradient under VANISHING_RATIO of the last's, or
  under WEAK_VANISHING_RATIO once the loss sat still past the first look with outputs that
  hardly vary over the probe (under FLAT_OUTPUT_SPREAD of the targets' spread); once vanishing,
  under 10x that: one look's noise does not end it;
- `plateau`: the loss sits at its starting or chance level, units alive, gradients reaching every
  layer: a slow start, not a dead network;
- `learning`: accuracy has left chance, or the loss has fallen below where it started.
The advice names the likely cause from the evidence (advice.py), not one sentence per kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from captcha_cnn.core.config_rules import VERDICT_KINDS
from captcha_cnn.doctor.advice import ADVICE, advise  # noqa: F401 (ADVICE: re-exported)
from captcha_cnn.doctor.evidence import (
    accuracy_words,
    alive_words,
    dead_evidence,
    dead_outputs_evidence,
    name_span,
)
from captcha_cnn.model.levels import STALLED_FACTOR

KINDS = VERDICT_KINDS  # The order above; config_rules.py holds it so doctor.stop_on can be checked.
# The loss has fallen off its plateau once it is this fraction below its start (or chance).
PLATEAU_TOLERANCE = 0.02
# A loss more than this multiple of where it started (or of chance, if higher) is diverging.
DIVERGING_FACTOR = 2.0
# Thresholds measured on digits MLPs (docs/doctor.md, "Thresholds"): healthy runs' largest layer
# gradient grew at most 55x its first look's (Adam 1e-2 on a raw-scale regression), runs about to
# blow up 100x to 1e6x; first/last layer gradient ratios stayed at 0.07 or more in healthy MLPs
# and at 7.9e-4 or more in the published CNN runs that went on to learn (stall-correct-seed1),
# while ten sigmoid layers gave 2e-7 to 6e-6; healthy tanh/sigmoid layers had 0% of units pinned,
# a tanh layer with weights of std 3 (which learns) 12.5%, sigmoid biases of +10 (stall) 100%.
EXPLODING_FACTOR = 100.0
VANISHING_RATIO = 1e-4
# A weaker ratio is vanishing too once the run has sat at chance past its first look with
# outputs that hardly depend on the input (docs/doctor.md, "Thresholds": Stack Overflow
# 39217567's three sigmoid layers, 1.3e-3 and 5e-5; fixed and healthy models 0.015 or more).
WEAK_VANISHING_RATIO, FLAT_OUTPUT_SPREAD = 4e-3, 1e-3
SATURATED_SHARE = 0.5
# Measured on the doctor panel (docs/doctor.md, "Thresholds"): pinned (input, unit) pairs,
# exploding only while the loss is RISING_SHARE above its lowest, and a classifier BLOWN_FACTOR
# times a uniform guess's loss after training began (confidently wrong, not slow).
PINNED_SHARE, RISING_SHARE, BLOWN_FACTOR = 0.3, 0.1, 10.0


@dataclass(frozen=True)
class Observation:
    """What one look at a model gave: its loss, and where known its accuracy, the share of
    units that never fire per ReLU layer and the gradient norm per layer."""

    step: int
    loss: float
    accuracy: float | None = None
    dead: Mapping[str, float] = field(default_factory=dict)
    gradients: Mapping[str, float] = field(default_factory=dict)
    saturated: Mapping[str, float] = field(default_factory=dict)  # tanh/sigmoid layers
    biases: Mapping[str, float] = field(default_factory=dict)  # mean bias per ReLU layer
    pinned: Mapping[str, float] = field(default_factory=dict)  # pairs pinned, tanh/sigmoid
    dead_outputs: Mapping[str, float] = field(default_factory=dict)  # ReLU output layers
    # How much the outputs vary over the probe, as a share of the targets' (None: not measured).
    output_spread: float | None = None


@dataclass(frozen=True)
class Levels:
    """What a loss and an accuracy are read against. `chance_loss` is the loss of uniform
    outputs (None if not known: the first observation's loss stands in), `floor` the lowest
    value the loss can reach, `probabilities_as_logits` whether the loss is fed probabilities."""

    chance_loss: float | None = None
    chance_accuracy: float | None = None
    floor: float = 0.0
    probabilities_as_logits: bool = False
    probabilities_kind: str = "softmax"  # What made the probabilities: softmax or sigmoid.
    one_unit_softmax: bool = False  # A softmax over one unit: always 1, no gradient.
    unreachable: str = ""  # Evidence that the outputs cannot reach the targets, if they cannot.
    input_scale: float = 0.0  # The largest absolute value among the probe's float inputs.
    uniform_loss: float | None = None  # A classifier's loss for uniform outputs (ln K).


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
        self._start_gradient: float | None = None
        self._lowest_loss = math.inf  # Before this observation.

    @property
    def verdict(self) -> Verdict | None:
        return self.history[-1] if self.history else None

    def add(self, observation: Observation) -> Verdict:
        if self._start_loss is None and math.isfinite(observation.loss):
            self._start_loss = observation.loss
            self._start_accuracy = observation.accuracy
        finite = [norm for norm in observation.gradients.values() if math.isfinite(norm)]
        if self._start_gradient is None and finite and max(finite) > 0:
            self._start_gradient = max(finite)
        kind, evidence = self._judge(observation)
        if math.isfinite(observation.loss):
            self._lowest_loss = min(self._lowest_loss, observation.loss)
        previous = self.verdict
        since = previous.step if previous is not None and previous.kind == kind else observation.step
        advice = advise(kind, observation, self.levels, self.history, self.growth(observation))
        verdict = Verdict(kind, since, observation.step, evidence, advice)
        self.history.append(verdict)
        return verdict

    def growth(self, obs: Observation) -> float:
        """The largest layer gradient as a multiple of the first look's (1 if unknown)."""
        finite = [norm for norm in obs.gradients.values() if math.isfinite(norm)]
        if not finite or not self._start_gradient:
            return 1.0
        return max(finite) / self._start_gradient

    def _judge(self, obs: Observation) -> tuple[str, str]:
        levels = self.levels
        start = self._start_loss if self._start_loss is not None else obs.loss
        chance = levels.chance_loss if levels.chance_loss is not None else start
        growth = self.growth(obs)
        grown = (f"; the largest layer gradient is {growth:.3g}x its first look's (exploding)"
                 if growth >= EXPLODING_FACTOR else "")
        non_finite = [name for name, norm in obs.gradients.items() if not math.isfinite(norm)]
        if not math.isfinite(obs.loss) or non_finite:
            what = f"the loss is {obs.loss}" if not math.isfinite(obs.loss) else (
                f"the gradient of {', '.join(non_finite)} is not finite")
            return "diverging", what
        if obs.loss > DIVERGING_FACTOR * max(start, chance):
            return "diverging", (f"the loss is {obs.loss:.4g}, more than {DIVERGING_FACTOR:g}x "
                                 f"where it started ({start:.4g}){grown}")
        if grown and not self._falling(obs, start, chance):
            name, norm = max(obs.gradients.items(), key=lambda item: item[1])
            return "exploding", (f"the gradient of {name} ({norm:.3g}) is {growth:.3g}x the "
                                 f"largest at the first look, while the loss ({obs.loss:.4g}) "
                                 f"is still finite")
        if levels.unreachable:
            return "unreachable_targets", levels.unreachable
        if levels.one_unit_softmax:  # Even where Keras trains the logits behind it (below).
            return "dead", ("the output is a softmax over one unit: it is 1 for every input, so "
                            "no gradient flows through it (Keras's own cross-entropies read the "
                            "logit behind it and the loss may fall, but every prediction is 1)")

        if any(share > 0.0 for share in obs.dead_outputs.values()):
            return "dead", dead_outputs_evidence(obs)
        left_chance = self._left_chance(obs, start, chance)
        dead = None if left_chance else self._dead(obs)
        if dead:
            return dead
        accuracy = accuracy_words(obs, self.levels.chance_accuracy)
        if levels.probabilities_as_logits:
            floor = f"it can never go below its floor of {levels.floor:.4g}"
            fed = ("sigmoid outputs into a sigmoid cross-entropy with logits"
                   if levels.probabilities_kind == "sigmoid" else "probabilities")
            if left_chance:
                return "hiding", f"{accuracy}, while the loss ({obs.loss:.4g}) is fed {fed} " \
                                 f"and {floor}"
            return "probabilities_as_logits", (f"the loss is fed {fed} where it expects "
                                               f"logits, so {floor}; {accuracy}")
        if not left_chance and self.history and levels.uniform_loss \
                and obs.loss > BLOWN_FACTOR * levels.uniform_loss:
            return "diverging", (f"training has not brought the loss ({obs.loss:.4g}) within "
                                 f"{BLOWN_FACTOR:g}x a uniform guess's ({levels.uniform_loss:.3g}):"
                                 f" the outputs are confidently wrong; {accuracy}")
        if not left_chance:
            return self._at_chance(obs, start, chance, accuracy)
        return "learning", f"{accuracy}; the loss is {obs.loss:.4g}, from {start:.4g}"

    def _dead(self, obs: Observation) -> tuple[str, str] | None:
        """Dead (no unit of a ReLU layer fires, a layer gets exactly 0 gradient, or dead before),
        or saturated where the exactly-0 gradient comes from tanh/sigmoid units pinned at their
        bounds; None if neither. Only for a run still at chance."""
        silent = [name for name, share in obs.dead.items() if share >= 1.0]
        no_gradient = [name for name, norm in obs.gradients.items() if norm == 0.0]
        was_dead = self.verdict is not None and self.verdict.kind == "dead"
        if not (silent or no_gradient or was_dead):
            return None
        pinned = self._pinned_layer(obs)
        if no_gradient and not silent and pinned and not was_dead:
            accuracy = accuracy_words(obs, self.levels.chance_accuracy)
            return "saturated", (f"{name_span(no_gradient)} get exactly 0 gradient because "
                                 f"{pinned} is pinned at its bounds; {accuracy}")
        return "dead", dead_evidence(obs, silent, no_gradient)

    def _at_chance(self, obs: Observation, start: float, chance: float,
                   accuracy: str) -> tuple[str, str]:
        """Saturated, vanishing, or a plateau (a slow start) for a run still at chance."""
        pinned = {name: share for name, share in obs.saturated.items()
                  if share >= SATURATED_SHARE}
        if pinned:
            name, share = max(pinned.items(), key=lambda item: item[1])
            return "saturated", (f"{share:.0%} of {name}'s units are pinned at a bound for "
                                 f"every probe input; the loss ({obs.loss:.4g}) sits at "
                                 f"{start:.4g}; {accuracy}")
        # Half the pairs pinned is saturated at any look; PINNED_SHARE only once the loss has sat
        # still past the first look (a healthy run's units may pin and unpin as its loss falls).
        still = bool(self.history) and obs.loss >= (1.0 - PLATEAU_TOLERANCE) * start
        floor = PINNED_SHARE if still else SATURATED_SHARE
        pairs = {name: share for name, share in obs.pinned.items() if share >= floor}
        if pairs:
            name, share = max(pairs.items(), key=lambda item: item[1])
            return "saturated", (f"{name}'s units are pinned at a bound for {share:.0%} of "
                                 f"(probe input, unit) pairs; the loss ({obs.loss:.4g}) sits at "
                                 f"{start:.4g}; {accuracy}")
        if still and self.verdict.kind == "saturated":
            # Like a dead network: the run that saturated has not left chance since, even if
            # the optimizer has since shrunk the weights that pinned the units.
            return "saturated", (f"still at chance since the units were pinned (step "
                                 f"{self.verdict.step:,}): the loss ({obs.loss:.4g}) has not "
                                 f"moved from {start:.4g}; {accuracy}")
        ratio = self._first_to_last(obs)
        was_vanishing = self.verdict is not None and self.verdict.kind == "vanishing"
        factor = 10.0 if was_vanishing else 1.0
        flat = still and obs.output_spread is not None and obs.output_spread < FLAT_OUTPUT_SPREAD
        if ratio is not None and (ratio < VANISHING_RATIO * factor
                                  or flat and ratio < WEAK_VANISHING_RATIO * factor):
            names = list(obs.gradients)
            flatness = (f"; the outputs barely depend on the input (they vary "
                        f"{obs.output_spread:.2g} as much as the targets)" if flat else "")
            return "vanishing", (f"the first layer's gradient ({names[0]}) is {ratio:.2g} of "
                                 f"the last's ({names[-1]}) while the loss ({obs.loss:.4g}) "
                                 f"sits at {start:.4g}{flatness}; {accuracy}")
        return "plateau", (f"the loss ({obs.loss:.4g}) sits at its starting or chance level "
                           f"({start:.4g}, {chance:.4g}); {accuracy}; "
                           f"{alive_words(obs)}")

    @staticmethod
    def _pinned_layer(obs: Observation) -> str:
        """The tanh/sigmoid layer most pinned, if any is past a saturation threshold; else ''."""
        shares = {name: max(obs.saturated.get(name, 0.0) / SATURATED_SHARE,
                            obs.pinned.get(name, 0.0) / PINNED_SHARE)
                  for name in {*obs.saturated, *obs.pinned}}
        name = max(shares, key=shares.get, default="")
        return name if name and shares[name] >= 1.0 else ""

    def _falling(self, obs: Observation, start: float, chance: float) -> bool:
        """The loss has left its start (or chance) and is at, or near, its lowest so far."""
        # Distances, not factors: a loss fed targets its outputs cannot reach may fall below 0.
        level = min(start, chance)
        below_start = obs.loss < level - PLATEAU_TOLERANCE * abs(level)
        return below_start and obs.loss <= self._lowest_loss + RISING_SHARE * abs(self._lowest_loss)

    @staticmethod
    def _first_to_last(obs: Observation) -> float | None:
        norms = list(obs.gradients.values())
        if len(norms) < 2 or not norms[-1] > 0:
            return None
        return norms[0] / norms[-1]

    def _left_chance(self, obs: Observation, start: float, chance: float) -> bool:
        """Accuracy at STALLED_FACTOR x chance or more (and x where it started: a random
        network on a small probe can start above chance), or the loss clearly below both its
        start and chance."""
        known = [level for level in (self.levels.chance_accuracy, self._start_accuracy)
                 if level is not None]
        # Once off the plateau, half the margin keeps it off: one noisy look does not undo it.
        was_off = self.verdict is not None and self.verdict.kind in ("learning", "hiding")
        factor = (1.0 + STALLED_FACTOR) / 2 if was_off else STALLED_FACTOR
        if obs.accuracy is not None and known:
            # factor x chance below 50%; above it, the same share of the errors removed (a
            # majority class at 90% needs 95%).
            level = max(known)
            if obs.accuracy >= level + (factor - 1.0) * min(level, 1.0 - level):
                return True
        return obs.loss < (1.0 - PLATEAU_TOLERANCE) * min(start, chance)
