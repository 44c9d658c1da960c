"""REPORT.md's parts: the figure of a pair, the seed's claims judged on its runs, the decision over
every pair and the map, and the flat layout's trap measured on the op.

Every threshold comes from the plan's `claims:` (a SeedClaim) and every sentence of judgement from
its `report:` wording; the numbers come from the runs' metrics.jsonl, never typed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from captcha_cnn.analysis.claims import SeedClaim
from captcha_cnn.analysis.judging import both_halves, buggy_half, correct_half
from captcha_cnn.analysis.run_reading import RunReading, by_seed
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels, loss_levels, steps_to


def _series(rows_per_seed: list[list[dict]], key: str):
    """Steps common to all seeds, and the values there as an array [seeds, steps]."""
    common = sorted(set.intersection(*[{row["step"] for row in rows} for rows in rows_per_seed]))
    values = np.array([[next(r[key] for r in rows if r["step"] == step) for step in common]
                       for rows in rows_per_seed])
    return np.array(common), values


def pair_figure(pair: str, groups: dict[str, list[list[dict]]], config: dict, path: Path):
    """Loss, per-character and whole-captcha held-out accuracy: mean over seeds, min-max band."""
    import matplotlib.pyplot as plt

    from captcha_cnn.analysis.plots import save_figure

    chance = config_chance_levels(config)
    figure, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    colours = {"correct": "tab:blue", "buggy": "tab:red"}
    for role, rows_per_seed in groups.items():
        for axis, key in zip(axes, ("test_loss", "test_char_acc", "test_whole_acc"), strict=True):
            steps, values = _series(rows_per_seed, key)
            axis.plot(steps, values.mean(axis=0), color=colours[role],
                      label=f"{role} (mean of {len(values)} seeds)" if len(values) > 1
                      else f"{role} (1 seed)")
            axis.fill_between(steps, values.min(axis=0), values.max(axis=0), color=colours[role],
                              alpha=0.2, linewidth=0)
    buggy_floor = config_loss_levels(config, "softmax_then_logits")
    axes[0].axhline(buggy_floor["floor"], color="tab:red", linestyle=":",
                    label=f"floor of the buggy loss = {buggy_floor['floor']:.3f}")
    axes[0].axhline(buggy_floor["chance"], color="grey", linestyle="-.",
                    label=f"chance = {buggy_floor['chance']:.3f}")
    axes[0].set_yscale("log")
    for axis, key in ((axes[1], "char"), (axes[2], "whole")):
        axis.axhline(chance[key], color="grey", linestyle="-.", label=f"chance = {chance[key]:.3g}")
        axis.set_ylim(-0.02, 1.02)
    titles = ("held-out loss (log scale)", "held-out per-character accuracy",
              "held-out whole-captcha accuracy")
    for axis, title in zip(axes, titles, strict=True):
        axis.set_title(f"{pair}: {title}", fontsize=10)
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    save_figure(figure, path)


def _spread(values: list[float], digits: int = 3) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return (f"{np.mean(values):.{digits}f} (min {min(values):.{digits}f}, max "
            f"{max(values):.{digits}f}, {len(values)} seeds)")


def _holds(judged: bool, holds) -> str:
    """yes or no only when the runs are long enough to judge the claim."""
    if not judged:
        return "n/a (runs too short)"
    return "yes" if holds else "no"


def pair_claims(groups: dict[str, list[list[dict]]], config: dict, claim: SeedClaim,
                wording: dict[str, str]) -> str:
    """The seed's claims, one table row each, with our measurement over the seeds."""
    correct, buggy = groups.get("correct", []), groups.get("buggy", [])
    chance = config_chance_levels(config)["char"]
    lines = ["| claim (seed) | measured | holds? |", "|---|---|---|"]
    if correct:
        lines += correct_claims(correct, claim, wording)
    if buggy:
        floor = config_loss_levels(config, "softmax_then_logits")["floor"]
        lines += buggy_claims(buggy, chance, floor, claim, wording)
    # When each run left the ln(10) plateau: the step that decides everything else above.
    level = claim.stalled_level(chance)
    for role, runs in (("correct", correct), ("buggy", buggy)):
        if runs:
            left = [steps_to(rows, "test_char_acc", level) for rows in runs]
            lines.append(f"| ({role}: step leaving the plateau, the first evaluation above "
                         f"{level:.0%} per character, per seed) | "
                         f"{_per_seed_steps(left, runs)} | |")
    return "\n".join(lines) + "\n"


def _per_seed_steps(steps: list[int | None], runs: list[list[dict]]) -> str:
    return ", ".join(str(s) if s else f"not by {rows[-1]['step']}"
                     for s, rows in zip(steps, runs, strict=True))


def correct_claims(correct: list[list[dict]], claim: SeedClaim,
                   wording: dict[str, str]) -> list[str]:
    """The seed's correct run: its loss and accuracy at the claim's step; when each seed reached
    the claim's accuracy."""
    step = claim.correct_step
    at_step = [row for rows in correct for row in rows if row["step"] == step]
    losses = [row["test_loss"] for row in at_step]
    accuracy = [row["test_char_acc"] for row in at_step]
    judged = len(at_step) == len(correct)  # Every seed reached the step (and logged it).
    training = [row["train_loss"] for row in at_step]
    reach = [steps_to(rows, "test_char_acc", claim.correct_accuracy) for rows in correct]
    return [f"| {wording['rows.correct_loss']} | held-out "
            f"loss {_spread(losses)} at step {step}; training loss (with dropout, mean of "
            f"steps {step - 99}-{step}) {_spread(training)} | "
            f"{_holds(judged, losses and max(losses) <= claim.correct_loss_at_most)} |",
            f"| {wording['rows.correct_accuracy']} | per character "
            f"{_spread(accuracy)}; whole captcha "
            f"{_spread([row['test_whole_acc'] for row in at_step])} | "
            f"{_holds(judged, accuracy and min(accuracy) >= claim.correct_accuracy)} |",
            f"| (steps to {claim.correct_accuracy:.0%} per character, per seed) | "
            f"{_per_seed_steps(reach, correct)} | |"]


def buggy_claims(buggy: list[list[dict]], chance: float, floor: float, claim: SeedClaim,
                 wording: dict[str, str]) -> list[str]:
    """The seed's buggy run: from the claim's first judged step on, neither the loss nor the
    accuracy moves. "Stalled" is judged on each seed's best evaluation from there, not its last."""
    first = claim.buggy_from_step
    start = [next((row for row in rows if row["step"] >= first), None) for rows in buggy]
    end = [rows[-1] for rows in buggy]
    pairs = [(s, e) for s, e in zip(start, end, strict=True) if s is not None and s is not e]
    best_after = [max((row["test_char_acc"] for row in rows if row["step"] >= first),
                      default=None) for rows in buggy]
    judged_best = [b if b is not None else e["test_char_acc"]
                   for b, e in zip(best_after, end, strict=True)]
    stalled = max(judged_best) < claim.stalled_level(chance)
    if pairs:
        loss_change = [e["test_loss"] - s["test_loss"] for s, e in pairs]
        accuracy_change = [e["test_char_acc"] - s["test_char_acc"] for s, e in pairs]
        window = f"from step {pairs[0][0]['step']} to {pairs[0][1]['step']}"
        long_enough = all(e["step"] - s["step"] >= claim.buggy_min_steps for s, e in pairs)
        flat_loss = _holds(long_enough,
                           max(abs(c) for c in loss_change) < claim.buggy_loss_change_below)
    else:
        loss_change = accuracy_change = []
        window, flat_loss = f"n/a (runs end before step {first})", "n/a"
    shown = (", ".join(f"{b:.3f}" for b in best_after) if None not in best_after
             else f"n/a (runs end before step {first})")
    return [f"| {wording['rows.buggy_loss']} | change {window}: "
            f"{_spread(loss_change)}; final loss "
            f"{_spread([e['test_loss'] for e in end])}, floor {floor:.3f} | {flat_loss} |",
            f"| {wording['rows.buggy_accuracy']} | change {window}: "
            f"{_spread(accuracy_change)}; final per character "
            f"{_spread([e['test_char_acc'] for e in end])} | "
            f"{wording['stalled'] if stalled else wording['hides']} |",
            f"| (buggy: best per character from step {first} on, per seed) | {shown} | |"]


def _count(judged: list[bool | None]) -> str:
    return f"{sum(1 for j in judged if j)} of {len(judged)}"


def claim_table(pairs: dict[str, dict[str, list[RunReading]]], about: dict[str, str],
                  claim: SeedClaim) -> str:
    """Per pair, in how many seeds each half of the seed's claim holds, judged as the map judges
    it, and in how many seeds both hold at once."""
    level = {round(run.stalled_level, 9) for roles in pairs.values() for runs in roles.values()
             for run in runs}
    shown = f"{level.pop():.0%}" if len(level) == 1 else f"{claim.buggy_at_chance_below:g}x chance"
    lines = [f"| pair | what it shows | correct: leaves chance ({shown}) | correct: "
             f"{claim.correct_accuracy:.0%} at step {claim.correct_step} | buggy: below {shown} "
             f"from step {claim.buggy_from_step} to {claim.buggy_to_step} | both in one seed |",
             "|---|---|---:|---:|---:|---:|"]
    for name, roles in pairs.items():
        correct, buggy = roles.get("correct", []), roles.get("buggy", [])
        twins = by_seed(buggy)
        both = [both_halves(run, twins[run.seed]) == "yes" for run in correct if run.seed in twins]
        lines.append(f"| {name} | {about.get(name, '')} | "
                     f"{_count([run.step_left_chance is not None for run in correct])} | "
                     f"{_count([correct_half(run) for run in correct])} | "
                     f"{_count([buggy_half(run) for run in buggy])} | {_count(both)} |")
    return "\n".join(lines) + "\n"


def map_line(readings: dict[str, dict[str, list[RunReading]]], link: str) -> str:
    """How many seeds of the map's settings give both halves at once."""
    judged = []
    for roles in readings.values():
        twins = by_seed(roles["buggy"])
        judged += [both_halves(run, twins[run.seed]) for run in roles["correct"] if run.seed in twins]
    decided = [j for j in judged if not j.startswith("open")]
    still_open = len(judged) - len(decided)
    return (f"On the map of every setting measured long enough ([{link}]({link})): both halves "
            f"in {decided.count('yes')} of the {len(decided)} seeds whose two runs can be "
            f"judged, over {len(readings)} settings"
            + (f" ({still_open} more open: a run stopped too early to judge)" if still_open
               else "") + ".\n")


def flat_layout_section(length: int, classes: int, template: str, fields: dict) -> str:
    """The seed's flat multi-hot call, measured on the op itself: the loss value and gradient the
    fused kernel gives, against the true gradient of the same loss, for one label row, written
    into the plan's `report.flat_layout` template (`fields`: the claim's thresholds)."""
    import tensorflow as tf  # Only here: the rest of publishing needs no TensorFlow.

    from captcha_cnn.model.losses import per_example_loss

    labels = np.zeros((1, length * classes), np.float32)
    labels[0, ::classes] = 1.0  # The first class of each character: `length` ones in the row.
    states = {"start (all logits 0)": np.zeros_like(labels),
              "fitted (true logits 10, others 0)": 10.0 * labels}
    lines = ["| logits | loss | fused gradient: true class / other class / row sum | true "
             "gradient: true class / other class / row sum |", "|---|---:|---|---|"]
    for state, values in states.items():
        logits = tf.Variable(values)
        with tf.GradientTape(persistent=True) as tape:
            fused = per_example_loss("logits", "flat", tf.constant(labels), logits, length)
            true = -tf.reduce_sum(labels * tf.nn.log_softmax(logits), axis=-1)
        cells = []
        for loss in (fused, true):
            gradient = tape.gradient(loss, logits).numpy()[0]
            cells.append(f"{gradient[0]:+.3f} / {gradient[1]:+.3f} / {gradient.sum():+.3f}")
        lines.append(f"| {state} | {float(fused.numpy()[0]):.3f} | {cells[0]} | {cells[1]} |")
    floor = loss_levels("logits", "flat", length, classes)["floor"]
    return template.format(**fields, width=length * classes, length=length,
                           table="\n".join(lines), floor=floor, row_sum=1 - length)


