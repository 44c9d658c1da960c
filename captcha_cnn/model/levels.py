"""The levels every curve is read against: chance, and the floor a loss can never go below.

Pure arithmetic, no TensorFlow: the sweep, the report and the plots use it without loading a model.
"""

from __future__ import annotations

import math

# A run whose per-character accuracy stays below this multiple of chance (0.15 for digits) is
# still at chance: stalled. Above it, it has left the ln(K) plateau.
STALLED_FACTOR = 1.5


def loss_levels(loss_name: str, layout: str, length: int, classes: int) -> dict[str, float]:
    """Reference levels of the loss as `per_example_loss` reports it.

    - `chance`: the loss of uniform outputs (all logits equal), where every run starts;
    - `floor`: the lowest value the loss can ever reach.

    For a softmax over N entries with n true ones of weight w each, the floor puts equal
    probability on the true entries. With raw logits that gives n*w*ln(n) (0 per character).
    With the bug, the "logits" are probabilities p in [0, 1], so the second softmax can give a
    true entry at most e^(1/n) / (n e^(1/n) + N - n): the floor is -n*w*ln of that, for example
    -ln(e / (e + 9)) = 1.461 per character with 10 classes, and 13.868 for the flat 40-vector.
    """
    if loss_name.startswith("sigmoid"):
        return sigmoid_levels(loss_name, layout, length, classes)
    if layout == "per_char":
        ones, entries, weight = 1, classes, 1.0
    else:
        ones, entries = length, length * classes
        weight = 1.0 / length if layout == "flat_normalized" else 1.0
    chance = ones * weight * math.log(entries)
    if loss_name == "softmax_then_logits":
        best = math.exp(1.0 / ones) / (ones * math.exp(1.0 / ones) + entries - ones)
        floor = -ones * weight * math.log(best)
    else:
        floor = ones * weight * math.log(ones)
    return {"chance": chance, "floor": floor}


def _softplus(value: float) -> float:
    return math.log1p(math.exp(value))


def sigmoid_levels(loss_name: str, layout: str, length: int, classes: int) -> dict[str, float]:
    """Levels of the mean per-unit sigmoid cross-entropy on one-hot characters (one true unit of
    `classes`, per character or over the flat vector alike).

    `sigmoid`: ln 2 at zero logits, floor 0. `sigmoid_then_logits`, the sigmoid twin of the bug,
    feeds p = sigmoid(outputs) in [0, 1] as logits: a true unit's loss is softplus(-p) >=
    -ln sigmoid(1) = 0.3133, a false one's softplus(p) >= ln 2 = 0.6931, so one-hot over 10 has
    the floor (0.3133 + 9 ln 2) / 10 = 0.6552 per unit; at zero outputs (p = 0.5) the loss is
    (softplus(-0.5) + 9 softplus(0.5)) / 10 = 0.924.

    `constant`: the loss of the best output that ignores the input (what a run reaches by
    learning only that 1 in K units is true): the targets' binary entropy for `sigmoid` (0.325
    for K = 10), ln 2 for `sigmoid_then_logits`. Below it a run has learned from its inputs."""
    true_share = 1.0 / classes  # The same share of true units per character or flat.
    if loss_name == "sigmoid":
        entropy = -(true_share * math.log(true_share)
                    + (1 - true_share) * math.log(1 - true_share))
        return {"chance": math.log(2.0), "floor": 0.0, "constant": entropy}
    chance = true_share * _softplus(-0.5) + (1 - true_share) * _softplus(0.5)
    floor = true_share * _softplus(-1.0) + (1 - true_share) * _softplus(0.0)
    # The best output that ignores the input: p = 0 everywhere (every unit's logit at 0 gives
    # ln 2 whatever its target), below the start yet above the floor.
    return {"chance": chance, "floor": floor, "constant": math.log(2.0)}


def chance_levels(length: int, classes: int) -> dict[str, float]:
    """Accuracy of uniform guessing."""
    return {"char": 1.0 / classes, "whole": float(classes) ** -length}


def label_shape(config: dict) -> tuple[int, int]:
    """A config's label as (characters per captcha, classes per character)."""
    return config["data"]["length"], len(config["data"]["charset"])


def config_loss_levels(config: dict, loss_name: str | None = None) -> dict[str, float]:
    """`loss_levels` for a config's label and layout, with its own loss or `loss_name` (the
    buggy twin's floor drawn beside any run, for example)."""
    loss = config["loss"]
    return loss_levels(loss_name or loss["name"], loss["layout"], *label_shape(config))


def config_chance_levels(config: dict) -> dict[str, float]:
    """`chance_levels` for a config's label."""
    return chance_levels(*label_shape(config))


def steps_to(rows: list[dict], key: str, level: float) -> int | None:
    """The step of the first metrics row whose `key` is at `level` or above (None: never)."""
    return next((row["step"] for row in rows if row[key] >= level), None)
