"""Curves of one or more runs side by side: loss, per-character and whole-captcha accuracy."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Files only; no display is needed or assumed.
import matplotlib.pyplot as plt  # noqa: E402

from captcha_cnn.core.files import write_atomically  # noqa: E402
from captcha_cnn.model.signal_names import BIAS_STD, DEAD, GRADIENT, per_layer  # noqa: E402


def plot_runs(runs: list[dict], path: Path) -> None:
    """Write a PNG with four panels: loss, the two held-out accuracies, the gradient norm.

    Each run is a dict with `label`, `rows` (metrics.jsonl), `loss_levels` ({chance, floor}) and
    `chance` ({char, whole}) and gets its own colour; the chance levels are drawn grey and each
    run's loss floor dotted in its colour."""
    # Runs logged before the training signals existed have no gradient norm: no empty panel then.
    with_gradients = any("grad_norm" in row for run in runs for row in run["rows"])
    axes = plt.subplots(1, 4 if with_gradients else 3, figsize=(21 if with_gradients else 16, 4.8))[1]
    loss_axis, char_axis, whole_axis = axes[:3]
    gradient_axis = axes[3] if with_gradients else None
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run in enumerate(runs):
        _draw_run(run, colours[index % len(colours)], axes[:3], gradient_axis)
    _draw_chance_levels(runs, loss_axis, char_axis, whole_axis)
    loss_axis.set_yscale("log")
    loss_axis.set_ylabel("loss (log scale)")
    loss_axis.set_title("loss")
    char_axis.set_title("per-character accuracy")
    whole_axis.set_title("whole-captcha accuracy")
    if gradient_axis is not None:
        gradient_axis.set_yscale("log")
        gradient_axis.set_title("gradient norm (training, mean over the interval)")
        gradient_axis.set_ylabel("global gradient L2 norm (log scale)")
    save_step_panels(axes, path, legend_size=7)


def _draw_run(run: dict, colour: str, step_axes, gradient_axis) -> None:
    """One run's curves: held-out and training loss (and its floor), the two accuracies, and
    its gradient norm where it was logged."""
    loss_axis, char_axis, whole_axis = step_axes
    steps = [row["step"] for row in run["rows"]]
    loss_axis.plot(steps, [row["test_loss"] for row in run["rows"]], color=colour,
                   label=f"{run['label']} (held out)")
    loss_axis.plot(steps, [row["train_loss"] for row in run["rows"]], color=colour,
                   alpha=0.4, linestyle="--", label=f"{run['label']} (train)")
    if run["loss_levels"]["floor"] > 0:
        loss_axis.axhline(run["loss_levels"]["floor"], color=colour, linestyle=":",
                          label=f"floor of {run['label']} = {run['loss_levels']['floor']:.3f}")
    char_axis.plot(steps, [row["test_char_acc"] for row in run["rows"]], color=colour,
                   label=run["label"])
    whole_axis.plot(steps, [row["test_whole_acc"] for row in run["rows"]], color=colour,
                    label=run["label"])
    # The gradient norm separates "slow" from "cannot learn": the buggy loss's gradient is
    # about 1/len(charset) of the correct one's at the start and shrinks as it nears its floor.
    if gradient_axis is not None and all("grad_norm" in row for row in run["rows"]):
        gradient_axis.plot(steps, [row["grad_norm"] for row in run["rows"]], color=colour,
                           label=run["label"])


def _draw_chance_levels(runs: list[dict], loss_axis, char_axis, whole_axis) -> None:
    """Chance in grey: the loss of uniform outputs and each accuracy's chance level."""
    chance_losses = sorted({round(run["loss_levels"]["chance"], 3) for run in runs})
    for chance in chance_losses:
        loss_axis.axhline(chance, color="grey", linestyle="-.", linewidth=1,
                          label=f"chance = {chance:.3f}")
    for axis, key, name in ((char_axis, "char", "per character"), (whole_axis, "whole", "whole")):
        for chance in sorted({run["chance"][key] for run in runs}):
            axis.axhline(chance, color="grey", linestyle="-.", linewidth=1,
                         label=f"chance = {chance:.3g}")
        axis.set_ylim(-0.02, 1.02)
        axis.set_ylabel(f"held-out accuracy ({name})")


LAYER_STYLES = ("-", "--", ":", "-.")


def has_unit_health(rows: list[dict]) -> bool:
    return any(per_layer(row, DEAD) for row in rows)


def plot_unit_health(runs: list[dict], path: Path) -> None:
    """Write a PNG that tells a dead network from a slow one (captcha_cnn.model.unit_health): per ReLU layer,
    the fraction of units silent on every image of the held-out batch, the spread of its bias,
    and its gradient norm. Colour: run; line style: layer. Runs logged before these signals
    existed are left out."""
    runs = [run for run in runs if has_unit_health(run["rows"])]
    axes = plt.subplots(1, 3, figsize=(19, 4.8))[1]
    dead_axis, bias_axis, gradient_axis = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run in enumerate(runs):
        colour = colours[index % len(colours)]
        rows = run["rows"]
        layers = list(per_layer(rows[-1], DEAD))
        steps = [row["step"] for row in rows]
        for layer, style in zip(layers, LAYER_STYLES * len(layers), strict=False):
            label = f"{run['label']}: {layer}"
            dead_axis.plot(steps, [row[DEAD + layer] for row in rows], color=colour,
                           linestyle=style, label=label)
            if BIAS_STD + layer in rows[-1]:
                bias_axis.plot(steps, [row[BIAS_STD + layer] for row in rows], color=colour,
                               linestyle=style, label=label)
            if GRADIENT + layer in rows[-1]:
                # A dead layer's gradient is exactly 0: drawn at the bottom of the log axis.
                gradient_axis.plot(steps, [max(row[GRADIENT + layer], 1e-12) for row in rows],
                                   color=colour, linestyle=style, label=label)
    dead_axis.set_ylim(-0.02, 1.02)
    dead_axis.set_title("dead units: silent for every held-out image")
    dead_axis.set_ylabel("fraction of the layer's units")
    bias_axis.set_title("spread of the layer's biases")
    bias_axis.set_ylabel("standard deviation over units")
    gradient_axis.set_yscale("log")
    gradient_axis.set_title("gradient norm per layer (0 drawn at 1e-12)")
    gradient_axis.set_ylabel("L2 norm (log scale)")
    save_step_panels(axes, path, legend_size=6, legend_columns=2)


def save_step_panels(axes, path: Path, legend_size: int, legend_columns: int = 1) -> None:
    """Label panels that share the training step as x axis, then save their figure."""
    for axis in axes:
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=legend_size, ncol=legend_columns)
    save_figure(axes[0].figure, path)


def save_figure(figure, path: Path, dpi: int = 110) -> None:
    """Write the figure as a PNG, atomically, and free it."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())
