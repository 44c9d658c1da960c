"""The advice that goes with a verdict: the likely cause, read from the evidence, and its fix.

One default sentence per kind (ADVICE), refined where the evidence names a cause: a dead network
with a softmax over one unit, with its loss fed probabilities, with a ReLU output, with negative
biases from the start, or dying after training began; probabilities made by a sigmoid rather
than a softmax; a divergence with exploding gradients, or a loss not finite before any training
(an overflow, not a learning rate); inputs far from unit range, named first where they can be
the cause. docs/doctor.md has the table of causes and advice.
"""

from __future__ import annotations

ADVICE = {
    "diverging": "lower the learning rate (by 3x to 10x) or clip gradients; a diverged "
                 "checkpoint cannot be resumed",
    "exploding": "clip gradients (e.g. clipnorm=1.0) and lower the learning rate: the loss "
                 "goes non-finite next",
    "unreachable_targets": "make the output able to reach the targets: a linear output for "
                           "regression, or targets rescaled into the activation's range",
    "dead": "restart from new weights: smaller learning rate, He or Glorot initialisation, "
            "biases at 0 or slightly positive, or LeakyReLU; waiting will not help",
    "hiding": "the loss is computed on probabilities: give it the raw logits (no softmax "
              "before a loss 'with logits'); the accuracy will keep its gains and the loss can "
              "reach 0",
    "probabilities_as_logits": "remove the softmax before the loss, or pass "
                               "from_logits=False, so the loss sees logits once",
    "saturated": "scale the inputs (to about unit range), initialise smaller (Glorot), or use "
                 "ReLU-family units or batch normalization; pinned units pass almost no gradient",
    "vanishing": "too little gradient reaches the first layers: ReLU-family activations, He "
                 "initialisation, batch normalization or residual connections, or fewer layers",
    "plateau": "nothing is broken yet: keep training, or try a larger learning rate; watch for "
               "'dead' (units dying on the plateau)",
    "learning": "nothing to do",
}


# Probe inputs larger than this in absolute value are raw, not scaled (standardised features
# rarely pass 10; raw pixels reach 255, raw measurements thousands).
RAW_INPUT_SCALE = 20.0


def _scale_first(levels) -> str:
    """'scale the inputs first' with their size, when the probe's inputs are raw; else ''."""
    if levels.input_scale <= RAW_INPUT_SCALE:
        return ""
    return (f"first scale the inputs to about unit range (the probe's reach "
            f"{levels.input_scale:.3g}); then ")


def advise(kind: str, obs, levels, history: list, growth: float = 1.0) -> str:
    """The advice for `kind` on this observation (an Observation), these Levels, and the
    verdicts before it (a Diagnosis's history)."""
    if kind == "dead":
        return _dead_advice(obs, levels, history)
    if kind == "diverging" and not history and obs.step == 0:
        return (f"{_scale_first(levels)}the loss is not finite before any training step, so "
                f"the forward pass overflows: no learning rate fixes that; use a bounded or "
                f"ReLU-family activation in place of one that overflows (e.g. exponential), "
                f"and check the inputs for huge values")
    if kind == "saturated" and _scale_first(levels):
        return (f"{_scale_first(levels)}initialise smaller (Glorot), or use ReLU-family units "
                f"or batch normalization; pinned units pass almost no gradient")
    if kind in ("vanishing", "unreachable_targets") and _scale_first(levels):
        return _scale_first(levels) + ADVICE[kind]
    if kind in ("hiding", "probabilities_as_logits") and levels.probabilities_kind == "sigmoid":
        return ("remove the sigmoid before the loss 'with logits' (or use a binary "
                "cross-entropy on probabilities, from_logits=False): a sigmoid cross-entropy with "
                "logits must see raw outputs")
    if kind == "diverging":
        exploded = ("clip gradients (e.g. clipnorm=1.0) and lower the learning rate (by 3x to "
                    "10x): the gradients exploded before the loss did; a diverged checkpoint "
                    "cannot be resumed")
        return _scale_first(levels) + (exploded if growth >= 100.0 else ADVICE[kind])
    return ADVICE[kind]


def _dead_advice(obs, levels, history: list) -> str:
    if levels.one_unit_softmax:
        return ("a softmax over one unit is always 1, so no gradient ever flows: use a sigmoid "
                "output (or two softmax units), not new weights")
    if levels.probabilities_as_logits:
        made = "sigmoid" if levels.probabilities_kind == "sigmoid" else "softmax"
        return (f"first give the loss logits (remove the {made} before the loss 'with logits'): "
                f"restarting alone would die again; then restart from new weights")
    if any(share > 0.0 for share in obs.dead_outputs.values()):
        return (f"{_scale_first(levels)}a ReLU output cannot stand for classes or signed "
                f"values: use softmax for classes, sigmoid for 0/1 targets, linear for values")
    silent = [name for name, share in obs.dead.items() if share >= 1.0]
    from_start = all(verdict.kind == "dead" for verdict in history)
    if not from_start:
        return ("the units died during training: restart from new weights with a lower "
                "learning rate (by 3x to 10x), or use LeakyReLU; waiting will not help")
    negative = {name: obs.biases[name] for name in silent if obs.biases.get(name, 0.0) < 0.0}
    if negative:
        name, bias = min(negative.items(), key=lambda item: item[1])
        return (f"dead from the start: the biases of {name} are negative (mean {bias:.3g}), so "
                f"no unit fires; initialise biases at 0 or slightly positive (or use LeakyReLU)")
    if silent:
        scale = _scale_first(levels)
        return (f"dead from the start: {scale}initialise with He or Glorot weights"
                f"{'' if scale else ', scale the inputs to about unit range'}, or use "
                f"LeakyReLU; waiting will not help")
    return ("a layer gets exactly 0 gradient while its units live: something in the graph cuts "
            "it (argmax, rounding, a cast to integers, stop_gradient) or a softmax runs over one "
            "unit")
