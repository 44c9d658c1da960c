"""A grid of short runs: loss x optimizer x learning rate x seed, and where the bug stalls or hides.

A sweep file (see configs/sweep.yaml) names a base experiment config, `--set` style overrides for
every cell, the loss names, the seeds, and for each optimizer its own learning rates. Each cell is
an ordinary run under `<runs>/<cell name>/`; a finished cell is skipped and an interrupted one
resumes, so the same command continues a sweep. The report is a heatmap of held-out accuracy per
cell (mean over seeds) and a markdown table with each cell's outcome (stalls, crawls, learns or
hides), in `<out>/sweep/`; each cell's small files are published in `<out>/runs/<cell name>/`
(out: results/ by default). A cell published there and not in runs/ (a fresh checkout) is read
from there, not trained again; the reproduction (`python -m captcha_cnn.experiments.reproduce`)
redraws results/sweep/ that way.

    python -m captcha_cnn.experiments.sweep configs/sweep.yaml                 # train what is missing, report
    python -m captcha_cnn.experiments.sweep configs/sweep.yaml --report-only   # train nothing
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from captcha_cnn.core.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.names import checked_name
from captcha_cnn.core.run_dir import RunDir, publish_run_files
from captcha_cnn.core.yaml_files import refuse_repeats
from captcha_cnn.experiments.plans import (
    PlannedRun,
    check_plan_folders,
    check_planned_runs,
    plan_arguments,
    planned_config,
    read_plan_file,
    shared_overrides,
    train_runs,
    with_published_copy,
)
from captcha_cnn.model.levels import STALLED_FACTOR, config_chance_levels, config_loss_levels

SWEEP_KEYS = {"base", "set", "losses", "seeds", "optimizers"}
# A cell's outcome from its final held-out per-character accuracy: stalled below STALLED_FACTOR x
# chance, learning from LEARNS_AT on, crawling between.
LEARNS_AT = 0.5


def read_sweep(path: Path) -> dict:
    """The sweep file, checked: every key present, nothing unknown, lists where lists belong."""
    sweep = read_plan_file(path, SWEEP_KEYS, SWEEP_KEYS - {"set"})
    for key in ("losses", "seeds", "optimizers"):
        if not isinstance(sweep[key], list) or not sweep[key]:
            raise ConfigError(f"{path}: {key}: expected a non-empty list")
    for key in ("losses", "seeds"):
        refuse_repeats(sweep[key], path, key)
    if not isinstance(sweep["base"], str):
        raise ConfigError(f"{path}: base: expected a config name, got {sweep['base']!r}")
    for loss in sweep["losses"]:
        checked_name(loss, f"{path}: losses")  # Each is part of a cell's folder name.
    for entry in sweep["optimizers"]:
        rates = entry.get("learning_rates") if isinstance(entry, dict) else None
        if not isinstance(rates, list) or "name" not in entry:
            raise ConfigError(f"{path}: optimizers: each entry needs a name and a list of "
                              f"learning_rates, got {entry!r}")
        if not isinstance(entry["name"], str):
            raise ConfigError(f"{path}: optimizers: name {entry['name']!r}: expected an "
                              f"optimizer's name (adam or sgd)")
        for key, value in entry.items():
            if key not in ("name", "learning_rates"):
                checked_name(f"{key}{value}", f"{path}: optimizers: {entry['name']}: {key}")
        checked_name(entry["name"], f"{path}: optimizers: name")
        try:  # PyYAML reads 1e-3 (no dot) as a string.
            entry["learning_rates"] = [float(rate) for rate in rates]
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: optimizers: learning_rates must be numbers, "
                              f"got {rates!r}") from None
        if not all(0 < rate < float("inf") for rate in entry["learning_rates"]):
            raise ConfigError(f"{path}: optimizers: {entry['name']}: learning_rates must be "
                              f"positive finite numbers, got {rates!r}")
        refuse_repeats(entry["learning_rates"], path, f"optimizers: {entry['name']}: "
                                                      f"learning_rates")
    sweep["overrides"] = shared_overrides(sweep, path)  # Checked as a config file's values.
    return sweep


def cells(sweep: dict, runs_dir: Path, published_runs: Path) -> list[PlannedRun]:
    """Every cell of the grid as a run, its config checked before anything trains; a cell
    finished and published in `published_runs` but not in `runs_dir` is read from there."""
    grid = []
    for optimizer in sweep["optimizers"]:
        extra = {k: v for k, v in optimizer.items() if k not in ("name", "learning_rates")}
        # Every setting that tells two cells apart is in the name, so no two share a folder.
        label = "-".join([optimizer["name"], *(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
                                               for k, v in extra.items())])
        for rate, loss, seed in itertools.product(optimizer["learning_rates"], sweep["losses"],
                                                  sweep["seeds"]):
            overrides = [*sweep["overrides"], f"train.optimizer={optimizer['name']}",
                         f"train.learning_rate={rate}", f"loss.name={loss}", f"seed={seed}"]
            overrides += [f"train.{k}={v}" for k, v in extra.items()]
            name = f"{label}-lr{rate:g}_{loss}-seed{seed}"  # <setting>_<role>-<variant>
            cell = PlannedRun(name, planned_config(sweep["base"], overrides),
                              Path(runs_dir) / name,
                              {"optimizer": label, "learning_rate": float(rate),
                               "loss": loss, "seed": seed})
            grid.append(with_published_copy(cell, published_runs))
    return grid


def outcome(loss: str, accuracy: float, chance: float) -> str:
    """What a cell did, from its final accuracy: stalls, crawls, learns or hides."""
    if accuracy < STALLED_FACTOR * chance:
        return "stalls"
    if accuracy < LEARNS_AT:
        return "crawls"
    return "hides (learns, loss above its floor)" if loss == "softmax_then_logits" else "learns"


def summarize(grid: list[PlannedRun]) -> list[dict]:
    """One row per (optimizer, learning rate, loss): final held-out numbers over the seeds."""
    groups: dict[tuple, list] = {}
    for cell in grid:
        rows = RunDir(cell.dir).read_metrics()
        if rows:
            key = (cell.tags["optimizer"], cell.tags["learning_rate"], cell.tags["loss"])
            groups.setdefault(key, []).append((rows[-1], cell.config))
    summary = []
    for (optimizer, rate, loss), entries in groups.items():
        finals = [row for row, _ in entries]
        config = entries[0][1]
        levels = config_loss_levels(config, loss)
        chance = config_chance_levels(config)["char"]
        accuracy = np.array([row["test_char_acc"] for row in finals])
        summary.append({
            "optimizer": optimizer, "learning_rate": rate, "loss": loss, "seeds": len(finals),
            "steps": min(row["step"] for row in finals),
            "char_acc_mean": float(accuracy.mean()), "char_acc_min": float(accuracy.min()),
            "char_acc_max": float(accuracy.max()),
            "whole_acc_mean": float(np.mean([row["test_whole_acc"] for row in finals])),
            "test_loss_mean": float(np.mean([row["test_loss"] for row in finals])),
            "grad_norm_mean": float(np.mean([row.get("grad_norm", np.nan) for row in finals])),
            "loss_floor": levels["floor"],
            "outcome": outcome(loss, float(accuracy.mean()), chance)})
    return summary


def table(summary: list[dict]) -> str:
    lines = ["| optimizer | learning rate | loss | seeds | steps | held-out per-char acc, mean "
             "(min-max) | whole acc | test loss (floor) | gradient norm | outcome |",
             "|---|---:|---|---:|---:|---|---:|---|---:|---|"]
    for row in summary:
        lines.append(
            f"| {row['optimizer']} | {row['learning_rate']:g} | {row['loss']} | {row['seeds']} | "
            f"{row['steps']} | {row['char_acc_mean']:.3f} ({row['char_acc_min']:.3f}-"
            f"{row['char_acc_max']:.3f}) | {row['whole_acc_mean']:.3f} | "
            f"{row['test_loss_mean']:.3f} ({row['loss_floor']:.3f}) | "
            f"{row['grad_norm_mean']:.3g} | {row['outcome']} |")
    return "\n".join(lines) + "\n"


def heatmap(summary: list[dict], path: Path) -> None:
    """Rows: optimizer and learning rate; columns: loss; colour: mean held-out per-char accuracy."""
    import matplotlib.pyplot as plt

    from captcha_cnn.analysis.plots import save_figure

    settings = sorted({(r["optimizer"], r["learning_rate"]) for r in summary})
    losses = list(dict.fromkeys(r["loss"] for r in summary))
    grid = np.full((len(settings), len(losses)), np.nan)
    labels = [["" for _ in losses] for _ in settings]
    for row in summary:
        i, j = settings.index((row["optimizer"], row["learning_rate"])), losses.index(row["loss"])
        grid[i, j] = row["char_acc_mean"]
        labels[i][j] = (f"{row['char_acc_mean']:.2f} ({row['char_acc_min']:.2f}-"
                        f"{row['char_acc_max']:.2f})\nloss {row['test_loss_mean']:.2f} "
                        f"(floor {row['loss_floor']:.2f}), |grad| {row['grad_norm_mean']:.2g}\n"
                        f"{row['outcome'].split(' ')[0]}")
    figure, axis = plt.subplots(figsize=(3.6 + 3.2 * len(losses), 1.0 + 0.9 * len(settings)))
    image = axis.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, j in itertools.product(range(len(settings)), range(len(losses))):
        axis.text(j, i, labels[i][j], ha="center", va="center", fontsize=8,
                  color="white" if np.nan_to_num(grid[i, j]) < 0.6 else "black")
    axis.set_xticks(range(len(losses)), losses)
    axis.set_yticks(range(len(settings)), [f"{o} {r:g}" for o, r in settings])
    axis.set_title(f"held-out per-character accuracy after {min(r['steps'] for r in summary)} "
                   f"steps (mean over seeds)", fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.05)
    save_figure(figure, path)


def report(grid: list[PlannedRun], runs_dir: Path, results: Path, show: bool = True) -> Path:
    """Write heatmap.png, sweep.md and sweep.json into `results/sweep/`, from the cells' metrics
    now, and publish each cell's small files in `results/runs/`; return the sweep folder."""
    summary = summarize(grid)
    if not summary:
        raise UserError(f"{runs_dir}: no sweep cell has metrics yet")
    out = Path(results) / "sweep"
    out.mkdir(parents=True, exist_ok=True)
    for cell in grid:  # The metrics behind every number, small enough to publish.
        if not cell.published and RunDir(cell.dir).metrics.is_file():
            publish_run_files(cell.dir, Path(results) / "runs" / cell.name)
    heatmap(summary, out / "heatmap.png")
    write_atomically(out / "sweep.md", table(summary).encode())
    write_atomically(out / "sweep.json", (json.dumps(summary, indent=2) + "\n").encode())
    if show:
        print(table(summary))
    return out


def main(argv=None) -> None:
    parser = plan_arguments(__doc__, "the sweep file: base config, losses, seeds, optimizers",
                            None, runs="runs/sweep", out="results")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing, report what the cells hold now")
    args = parser.parse_args(argv)
    if args.verbose:
        make_verbose()
    check_plan_folders(args)
    grid = cells(read_sweep(args.plan), args.runs, args.out / "runs")
    check_planned_runs(grid, args.plan, data_dir=args.data_dir)
    if not args.report_only:
        import_tensorflow_quietly()
        for cell in grid:
            if cell.published:
                print(f"{cell.name}: finished and published in {cell.dir}; not trained again")
        train_runs([cell for cell in grid if not cell.published], args.data_dir,
                   progress=not args.no_progress)
    out = report(grid, args.runs, args.out)
    print(f"wrote {out / 'heatmap.png'}, {out / 'sweep.md'} and {out / 'sweep.json'}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
