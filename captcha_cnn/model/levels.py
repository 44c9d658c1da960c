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
    if loss_name == "sigmoid":
        return {"chance": math.log(2.0), "floor": 0.0}
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
