"""The sentences of evidence behind the doctor's verdicts (verdict.py judges; this says why)."""

from __future__ import annotations


def dead_evidence(obs, silent: list[str], no_gradient: list[str]) -> str:
    """Why the network is dead: layers with no gradient, layers no unit of which fires."""
    parts = []
    if no_gradient:
        parts.append(f"{name_span(no_gradient)} get{'s' if len(no_gradient) == 1 else ''} "
                     f"no gradient (exactly 0)")
    if silent:
        parts.append(f"no unit of {name_span(silent)} fires for any probe input")
    if not parts:  # Dead before, and not back: say how it looks now.
        smallest = min(obs.gradients.items(), key=lambda item: item[1], default=None)
        parts.append("still at chance since the network died"
                     + (f" (smallest layer gradient: {smallest[0]} {smallest[1]:.2g})"
                        if smallest else ""))
    return "; ".join(parts)


def dead_outputs_evidence(obs) -> str:
    """Why a ReLU output is dead: the share of its units that never fire."""
    name, share = max(obs.dead_outputs.items(), key=lambda item: item[1])
    return (f"{share:.0%} of the units of the ReLU output {name} never fire for any probe "
            f"input: what they stand for is 0 for every input, and they get no gradient")


def accuracy_words(obs, chance: float | None) -> str:
    """The accuracy, against chance where known."""
    if obs.accuracy is None:
        return "accuracy not measured"
    against = f" (chance {chance:.1%})" if chance is not None else ""
    return f"accuracy {obs.accuracy:.1%}{against}"


def alive_words(obs) -> str:
    """Why a plateau is not dead: units alive, gradients reaching every layer."""
    words = []
    if obs.dead:
        name, share = max(obs.dead.items(), key=lambda item: item[1])
        words.append(f"units alive in every layer (most silent: {name}, {share:.0%})")
    if obs.gradients:
        name, norm = min(obs.gradients.items(), key=lambda item: item[1])
        words.append(f"gradients reach every layer (smallest: {name}, {norm:.2g})")
    return "; ".join(words) or "units and gradients not measured"


def name_span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"
