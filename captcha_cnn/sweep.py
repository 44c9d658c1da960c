"""A grid of short runs: loss x optimizer x learning rate x seed, and where the bug stalls or hides.

A sweep file (see configs/sweep.yaml) names a base experiment config, `--set` style overrides for
every cell, the loss names, the seeds, and for each optimizer its own learning rates. Each cell is
an ordinary run under `<runs>/<cell name>/`; a finished cell is skipped and an interrupted one
resumes, so the same command continues a sweep. The report is a heatmap of held-out accuracy per
cell (mean over seeds) and a markdown table with each cell's verdict.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from captcha_cnn.config import ConfigError, load_config, read_yaml
from captcha_cnn.errors import UserError
from captcha_cnn.runlog import RunDir, write_atomically

SWEEP_KEYS = {"base", "set", "losses", "seeds", "optimizers"}
# A cell's verdict from its final held-out per-character accuracy (chance 0.1 for digits).
LEARNS_AT, STALLED_BELOW = 0.5, 0.15


def read_sweep(path: Path) -> dict:
    """The sweep file, checked: every key present, nothing unknown, lists where lists belong."""
    sweep = read_yaml(Path(path))
    unknown = sorted(set(sweep) - SWEEP_KEYS)
    missing = sorted(SWEEP_KEYS - set(sweep) - {"set"})
    if unknown or missing:
        raise ConfigError(f"{path}: unknown keys {unknown} / missing keys {missing} "
                          f"(a sweep has: {', '.join(sorted(SWEEP_KEYS))})")
    for key in ("losses", "seeds", "optimizers"):
        if not isinstance(sweep[key], list) or not sweep[key]:
            raise ConfigError(f"{path}: {key}: expected a non-empty list")
    for entry in sweep["optimizers"]:
        rates = entry.get("learning_rates") if isinstance(entry, dict) else None
        if not isinstance(rates, list) or "name" not in entry:
            raise ConfigError(f"{path}: optimizers: each entry needs a name and a list of "
                              f"learning_rates, got {entry!r}")
    return sweep


def cells(sweep: dict) -> list[dict]:
    """Every cell of the grid: its name and the `--set` overrides that define it."""
    grid = []
    for optimizer in sweep["optimizers"]:
        extra = {k: v for k, v in optimizer.items() if k not in ("name", "learning_rates")}
        for rate, loss, seed in itertools.product(optimizer["learning_rates"], sweep["losses"],
                                                  sweep["seeds"]):
            overrides = [f"{k}={v}" for k, v in (sweep.get("set") or {}).items()]
            overrides += [f"train.optimizer={optimizer['name']}", f"train.learning_rate={rate}",
                          f"loss.name={loss}", f"seed={seed}"]
            overrides += [f"train.{k}={v}" for k, v in extra.items()]
            grid.append({"name": f"{optimizer['name']}-lr{rate:g}-{loss}-seed{seed}",
                         "optimizer": optimizer["name"], "learning_rate": float(rate),
                         "loss": loss, "seed": seed, "overrides": overrides})
    return grid


def run_sweep(path: Path, runs_dir: Path, data_dir: Path | None = None,
              progress: bool = True) -> list[dict]:
    """Train every cell that is not finished yet; return the cells with their run directories."""
    from captcha_cnn.training import train  # TensorFlow only once the sweep file is valid.

    sweep = read_sweep(path)
    grid = cells(sweep)
    configs = [load_config(sweep["base"], cell["overrides"])[0] for cell in grid]  # Check all first.
    for number, (cell, config) in enumerate(zip(grid, configs, strict=True), start=1):
        cell["run"] = Path(runs_dir) / cell["name"]
        run = RunDir(cell["run"])
        if run.is_finished():
            print(f"[{number}/{len(grid)}] {cell['name']}: finished, skipped")
            continue
        print(f"[{number}/{len(grid)}] {cell['name']}", flush=True)
        train(config, cell["name"], run.path, resume=run.config.is_file(), data_dir=data_dir,
              progress=progress)
        import keras

        keras.backend.clear_session()  # Free the last cell's graphs before the next one.
    return grid


def _verdict(loss: str, accuracy: float) -> str:
    if accuracy < STALLED_BELOW:
        return "stalls"
    if accuracy < LEARNS_AT:
        return "crawls"
    return "hides (learns, loss above its floor)" if loss == "softmax_then_logits" else "learns"


def summarize(grid: list[dict]) -> list[dict]:
    """One row per (optimizer, learning rate, loss): final held-out numbers over the seeds."""
    groups: dict[tuple, list] = {}
    for cell in grid:
        rows = RunDir(cell["run"]).read_metrics()
        if rows:
            key = (cell["optimizer"], cell["learning_rate"], cell["loss"])
            groups.setdefault(key, []).append(rows[-1])
    summary = []
    for (optimizer, rate, loss), finals in groups.items():
        accuracy = np.array([row["test_char_acc"] for row in finals])
        summary.append({
            "optimizer": optimizer, "learning_rate": rate, "loss": loss, "seeds": len(finals),
            "steps": min(row["step"] for row in finals),
            "char_acc_mean": float(accuracy.mean()), "char_acc_min": float(accuracy.min()),
            "char_acc_max": float(accuracy.max()),
            "whole_acc_mean": float(np.mean([row["test_whole_acc"] for row in finals])),
            "test_loss_mean": float(np.mean([row["test_loss"] for row in finals])),
            "grad_norm_mean": float(np.mean([row.get("grad_norm", np.nan) for row in finals])),
            "verdict": _verdict(loss, float(accuracy.mean()))})
    return summary


def table(summary: list[dict], floors: dict[str, float]) -> str:
    lines = ["| optimizer | learning rate | loss | seeds | steps | held-out per-char acc, mean "
             "(min-max) | whole acc | test loss (floor) | gradient norm | verdict |",
             "|---|---:|---|---:|---:|---|---:|---|---:|---|"]
    for row in summary:
        lines.append(
            f"| {row['optimizer']} | {row['learning_rate']:g} | {row['loss']} | {row['seeds']} | "
            f"{row['steps']} | {row['char_acc_mean']:.3f} ({row['char_acc_min']:.3f}-"
            f"{row['char_acc_max']:.3f}) | {row['whole_acc_mean']:.3f} | "
            f"{row['test_loss_mean']:.3f} ({floors[row['loss']]:.3f}) | "
            f"{row['grad_norm_mean']:.3g} | {row['verdict']} |")
    return "\n".join(lines) + "\n"


def heatmap(summary: list[dict], path: Path) -> None:
    """Rows: optimizer and learning rate; columns: loss; colour: mean held-out per-char accuracy."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({(r["optimizer"], r["learning_rate"]) for r in summary})
    losses = list(dict.fromkeys(r["loss"] for r in summary))
    grid = np.full((len(settings), len(losses)), np.nan)
    labels = [["" for _ in losses] for _ in settings]
    for row in summary:
        i, j = settings.index((row["optimizer"], row["learning_rate"])), losses.index(row["loss"])
        grid[i, j] = row["char_acc_mean"]
        labels[i][j] = (f"{row['char_acc_mean']:.2f} ({row['char_acc_min']:.2f}-"
                        f"{row['char_acc_max']:.2f})\nloss {row['test_loss_mean']:.2f}\n"
                        f"{row['verdict'].split(' ')[0]}")
    figure, axis = plt.subplots(figsize=(3.2 + 2.6 * len(losses), 1.0 + 0.9 * len(settings)))
    image = axis.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, j in itertools.product(range(len(settings)), range(len(losses))):
        axis.text(j, i, labels[i][j], ha="center", va="center", fontsize=8,
                  color="white" if np.nan_to_num(grid[i, j]) < 0.6 else "black")
    axis.set_xticks(range(len(losses)), losses)
    axis.set_yticks(range(len(settings)), [f"{o} {r:g}" for o, r in settings])
    axis.set_title(f"held-out per-character accuracy after {min(r['steps'] for r in summary)} "
                   f"steps (mean over seeds)", fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.05)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())


def report(path: Path, runs_dir: Path, out: Path, data_dir: Path | None = None,
           progress: bool = True) -> Path:
    """Run (or continue) the sweep, then write heatmap.png, sweep.md and sweep.json into `out`."""
    from captcha_cnn.losses import loss_levels

    grid = run_sweep(path, runs_dir, data_dir, progress)
    summary = summarize(grid)
    if not summary:
        raise UserError(f"{runs_dir}: no sweep cell has metrics yet")
    config = load_config(read_sweep(path)["base"])[0]
    floors = {row["loss"]: loss_levels(row["loss"], config["loss"]["layout"],
                                       config["data"]["length"],
                                       len(config["data"]["charset"]))["floor"]
              for row in summary}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    heatmap(summary, out / "heatmap.png")
    write_atomically(out / "sweep.md", table(summary, floors).encode())
    write_atomically(out / "sweep.json", (json.dumps(summary, indent=2) + "\n").encode())
    print(table(summary, floors))
    return out
