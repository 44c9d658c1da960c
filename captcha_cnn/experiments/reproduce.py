"""The full reproduction: train every pair of configs for every seed, then publish `results/`.

    python -m captcha_cnn.experiments.reproduce                     # train what is missing, publish results/
    python -m captcha_cnn.experiments.reproduce --seeds 0           # seed 0 of every pair first
    python -m captcha_cnn.experiments.reproduce --publish-only      # train nothing: publish what runs hold

A reproduction file (configs/reproduce.yaml) names pairs of experiment configs (correct, buggy),
the seeds, and `--set` style overrides for every run. Finished runs are skipped and interrupted
ones resume, so one command both starts and completes the work. What is published is small: each
run's resolved config, metrics, environment and summary, one figure per pair (mean over seeds
with a min-max band) and REPORT.md, every number in it read from those metrics.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from captcha_cnn.core.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.core.config import ConfigError, load_config, refuse_repeats
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.run_dir import RunDir, publish_run_files
from captcha_cnn.experiments.plans import (
    PlannedRun,
    check_plan_folders,
    check_planned_runs,
    plan_arguments,
    read_plan_file,
    refuse_same_file_pairs,
    shared_overrides,
    train_runs,
)
from captcha_cnn.model.levels import STALLED_FACTOR, chance_levels, loss_levels, steps_to
from captcha_cnn.train.resume import first_difference

REPRODUCE_KEYS = {"pairs", "seeds", "set", "notes"}


def read_plan(path: Path) -> dict:
    plan = read_plan_file(path, REPRODUCE_KEYS, {"pairs", "seeds"})
    if not isinstance(plan["pairs"], dict) or not plan["pairs"]:
        raise ConfigError(f"{path}: pairs: expected a mapping of pair names to "
                          f"[correct config, buggy config]")
    for name, pair in plan["pairs"].items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(c, str) for c in pair)):
            raise ConfigError(f"{path}: pairs.{name}: expected [correct config, buggy config]")
    if not (isinstance(plan["seeds"], list) and plan["seeds"]
            and all(isinstance(seed, int) for seed in plan["seeds"])):
        raise ConfigError(f"{path}: seeds: expected a list of integers, got {plan['seeds']!r}")
    refuse_repeats(plan["seeds"], path, "seeds")
    refuse_same_file_pairs(plan["pairs"], path)
    notes = plan.get("notes") or []
    if not (isinstance(notes, list) and all(isinstance(note, str) for note in notes)):
        raise ConfigError(f"{path}: notes: expected a list of sentences for the report, "
                          f"got {notes!r}")
    return plan


def check_seeds(plan: dict, seeds: list[int] | None) -> None:
    unknown = sorted(set(seeds or []) - set(plan["seeds"]))
    if unknown:
        raise UserError(f"--seeds: {unknown} not in the plan's seeds {plan['seeds']}")


def planned_runs(plan: dict, runs_dir: Path, results: Path) -> list[PlannedRun]:
    """Every run of the plan, checked as configs before anything trains. A run finished and
    published earlier (results/ is committed, runs/ is not) is read from results/ instead of
    being trained again on a fresh checkout."""
    runs = []
    for pair, configs in plan["pairs"].items():
        for role, config_name in zip(("correct", "buggy"), configs, strict=True):
            for seed in plan["seeds"]:
                config, experiment = load_config(config_name,
                                                 [*shared_overrides(plan), f"seed={seed}"])
                name = f"{pair}-{experiment}-seed{seed}"
                run = PlannedRun(name, config, Path(runs_dir) / name,
                                 {"pair": pair, "role": role, "seed": seed})
                published = Path(results) / "runs" / name
                if not RunDir(run.dir).is_finished() and (published / "summary.json").is_file():
                    check_published_config(RunDir(published), config)
                    run = replace(run, dir=published, published=True)
                runs.append(run)
    return runs


def check_published_config(published: RunDir, config: dict) -> None:
    """A published run stands for its planned run only if it was made with the same config: a
    config edited since then must not be reported with another config's numbers."""
    difference = first_difference(published.read_config(), config)
    if difference is not None:
        key, before, now = difference
        raise UserError(f"{published.config}: {key} is {before!r} in the published run but "
                        f"{now!r} in the plan; move the published run away to train it again")


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

    data, loss = config["data"], config["loss"]
    classes = len(data["charset"])
    chance = chance_levels(data["length"], classes)
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
    buggy_floor = loss_levels("softmax_then_logits", loss["layout"], data["length"], classes)
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
    """A verdict only when the runs are long enough to judge the claim."""
    if not judged:
        return "n/a (runs too short)"
    return "yes" if holds else "no"


def pair_claims(pair: str, groups: dict[str, list[list[dict]]], config: dict) -> str:
    """The seed's claims, one table row each, with our measurement over the seeds."""
    correct, buggy = groups.get("correct", []), groups.get("buggy", [])
    data = config["data"]
    chance = chance_levels(data["length"], len(data["charset"]))["char"]
    lines = ["| claim (seed) | measured | holds? |", "|---|---|---|"]
    if correct:
        lines += correct_claims(correct)
    if buggy:
        floor = loss_levels("softmax_then_logits", config["loss"]["layout"], data["length"],
                            len(data["charset"]))["floor"]
        lines += buggy_claims(buggy, chance, floor)
    # When each run left the ln(10) plateau: the step that decides everything else above.
    for role, runs in (("correct", correct), ("buggy", buggy)):
        if runs:
            left = [steps_to(rows, "test_char_acc", STALLED_FACTOR * chance) for rows in runs]
            lines.append(f"| ({role}: step leaving the plateau, the first evaluation above "
                         f"{STALLED_FACTOR * chance:.0%} per character, per seed) | "
                         f"{_per_seed_steps(left, runs)} | |")
    return "\n".join(lines) + "\n"


def _per_seed_steps(steps: list[int | None], runs: list[list[dict]]) -> str:
    return ", ".join(str(s) if s else f"not by {rows[-1]['step']}"
                     for s, rows in zip(steps, runs, strict=True))


def correct_claims(correct: list[list[dict]]) -> list[str]:
    """The seed's correct run: loss 0.03 and 98% after 4000 steps; when each seed reached 98%."""
    at_4000 = [row for rows in correct for row in rows if row["step"] == 4000]
    losses = [row["test_loss"] for row in at_4000]
    accuracy = [row["test_char_acc"] for row in at_4000]
    judged = len(at_4000) == len(correct)  # Every seed reached step 4000 (and logged it).
    training = [row["train_loss"] for row in at_4000]
    reach = [steps_to(rows, "test_char_acc", 0.98) for rows in correct]
    return [f"| correct: loss 0.03 after 4000 steps (holds if at most 0.05) | held-out "
            f"loss {_spread(losses)} at step 4000; training loss (with dropout, mean of "
            f"steps 3901-4000) {_spread(training)} | "
            f"{_holds(judged, losses and max(losses) <= 0.05)} |",
            f"| correct: 98% accuracy after 4000 steps | per character "
            f"{_spread(accuracy)}; whole captcha "
            f"{_spread([row['test_whole_acc'] for row in at_4000])} | "
            f"{_holds(judged, accuracy and min(accuracy) >= 0.98)} |",
            f"| (steps to 98% per character, per seed) | {_per_seed_steps(reach, correct)} | |"]


def buggy_claims(buggy: list[list[dict]], chance: float, floor: float) -> list[str]:
    """The seed's buggy run: over 5000+ steps from step 1000 neither the loss nor the accuracy
    moves. "Stalled" is judged on each seed's best evaluation from step 1000 on, not its last."""
    start = [next((row for row in rows if row["step"] >= 1000), None) for rows in buggy]
    end = [rows[-1] for rows in buggy]
    pairs = [(s, e) for s, e in zip(start, end, strict=True) if s is not None and s is not e]
    best_after = [max((row["test_char_acc"] for row in rows if row["step"] >= 1000),
                      default=None) for rows in buggy]
    judged_best = [b if b is not None else e["test_char_acc"]
                   for b, e in zip(best_after, end, strict=True)]
    stalled = max(judged_best) < STALLED_FACTOR * chance  # 0.15 for digits.
    if pairs:
        loss_change = [e["test_loss"] - s["test_loss"] for s, e in pairs]
        accuracy_change = [e["test_char_acc"] - s["test_char_acc"] for s, e in pairs]
        window = f"from step {pairs[0][0]['step']} to {pairs[0][1]['step']}"
        long_enough = all(e["step"] - s["step"] >= 4000 for s, e in pairs)  # The seed's 5000+.
        flat_loss = _holds(long_enough, max(abs(c) for c in loss_change) < 0.05)
    else:
        loss_change = accuracy_change = []
        window, flat_loss = "n/a (runs end before step 1000)", "n/a"
    verdict = ("yes (stalled at chance)" if stalled else
               "no: the bug hides (accuracy rises while the loss stays above its floor)")
    shown = (", ".join(f"{b:.3f}" for b in best_after) if None not in best_after
             else "n/a (runs end before step 1000)")
    return [f"| buggy: loss does not change over 5000+ steps | change {window}: "
            f"{_spread(loss_change)}; final loss "
            f"{_spread([e['test_loss'] for e in end])}, floor {floor:.3f} | {flat_loss} |",
            f"| buggy: accuracy does not rise | change {window}: "
            f"{_spread(accuracy_change)}; final per character "
            f"{_spread([e['test_char_acc'] for e in end])} | {verdict} |",
            f"| (buggy: best per character from step 1000 on, per seed) | {shown} | |"]


def flat_layout_section(length: int, classes: int) -> str:
    """The seed's flat multi-hot call, measured on the op itself: the loss value and gradient the
    fused kernel gives, against the true gradient of the same loss, for one label row."""
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
    return (f"## The flat layout's gradient trap\n\nThe seed's case 2 passes the whole "
            f"{length * classes}-wide multi-hot label ({length} ones) to "
            f"`softmax_cross_entropy_with_logits` as one row (`loss.layout: flat`). Measured on "
            f"TensorFlow's fused kernel, which the op runs unless op determinism is on:\n\n"
            + "\n".join(lines) + "\n\n"
            f"The loss value is right (its floor is {floor:.3f}, reached when the softmax puts "
            f"1/{length} on each true class), but the fused gradient is `softmax - labels`, "
            f"which is the true gradient only when the label row sums to 1. Here it sums to "
            f"{1 - length}, and at the floor it still pushes every true logit up: gradient descent "
            f"never settles. Use `per_char`, or `flat_normalized` (labels divided by {length}). "
            f"Trained with it (Adam 3e-4, seed 0, 2,000 steps), the correct run's logits "
            f"diverge and the buggy run freezes, both at chance: "
            f"[docs/losses.md](../docs/losses.md).\n")


def publish(runs: list[PlannedRun], plan_path: Path, results: Path,
            notes: list[str] = (), redraw: set[str] | None = None) -> Path:
    """Copy each finished run's small files to `results/runs/`, draw a figure per pair, write
    REPORT.md. Claims and figures use finished runs only (a run still training, perhaps in another
    process, would cut every curve short); unfinished runs are listed in the run table.

    `redraw` names the pairs whose figure may have changed (None: all); the others keep theirs
    unless it is missing. Drawing takes about a second a figure, against a run's minutes."""
    results = Path(results)
    (results / "runs").mkdir(parents=True, exist_ok=True)
    sections, machines, wall = [], set(), {}
    for pair in dict.fromkeys(run.tags["pair"] for run in runs):
        members = [run for run in runs if run.tags["pair"] == pair]
        groups: dict[str, list[list[dict]]] = {}
        for run in members:
            record = RunDir(run.dir)
            rows = record.read_metrics() if record.path.is_dir() else []
            if not rows:
                continue
            finished = record.is_finished()
            minutes = rows[-1]["elapsed_s"] / 60
            wall[run.name] = (f"| {run.name} | {rows[-1]['step']} | {minutes:.1f} | "
                                 f"{'yes' if finished else 'no (not in the claims)'} |")
            if not finished:
                continue
            groups.setdefault(run.tags["role"], []).append(rows)
            if not run.published:
                publish_run_files(record.path, results / "runs" / run.name)
            environment = record.read_environment()
            machines.add(f"{environment.get('device', 'device unknown')}; " + ", ".join(
                f"{k} {v}" for k, v in environment.get("versions", {}).items()))
        if not groups:
            continue
        config = members[0].config
        figure = results / f"{pair}.png"
        if redraw is None or pair in redraw or not figure.is_file():
            pair_figure(pair, groups, config, figure)
        train = config["train"]
        sections.append(f"## {pair}: {train['optimizer']} learning rate {train['learning_rate']:g},"
                        f" loss layout {config['loss']['layout']}\n\n![{pair}]({pair}.png)\n\n"
                        f"{pair_claims(pair, groups, config)}")
    data = runs[0].config["data"]
    report = ["# Reproduction report", "",
              f"Made by `python -m captcha_cnn.experiments.reproduce {plan_path}`; every number below "
              f"is read from `results/runs/*/metrics.jsonl` (held-out set: {data['test_size']} "
              f"captchas never trained on). Accuracy is per character unless it says whole captcha.", "",
              *sections, flat_layout_section(data["length"], len(data["charset"])),
              "## Runs", "", "| run | steps | wall time (min) | finished |",
              "|---|---:|---:|---|", *wall.values(), "",
              *[f"- {note}" for note in notes], "",
              "Machine and versions: " + "; ".join(sorted(machines)), ""]
    write_atomically(results / "REPORT.md", "\n".join(report).encode("utf-8"))
    return results / "REPORT.md"


def reproduce(plan_path: Path, runs_dir: Path, results: Path, seeds: list[int] | None = None,
              data_dir: Path | None = None, progress: bool = True,
              train: bool = True) -> Path:
    """Train the plan's runs that are not finished (only those of `seeds` if given; none if
    `train` is False), then publish every run of the plan that has started, whatever its seed;
    unfinished runs are marked as such in the report."""
    plan = read_plan(plan_path)
    check_seeds(plan, seeds)  # Before anything happens.
    runs = planned_runs(plan, runs_dir, results)
    check_planned_runs(runs, plan_path, same_config_within=("pair", "seed"))
    notes = plan.get("notes") or []
    if not train:
        return publish(runs, plan_path, results, notes)
    report = None
    for run in runs:  # Publish after every run: an interrupted reproduction still shows its work.
        if seeds is not None and run.tags["seed"] not in seeds:
            continue
        if run.published:
            print(f"{run.name}: finished and published in {run.dir}; not trained again")
            changed = set()
        else:
            train_runs([run], data_dir, progress)
            changed = {run.tags["pair"]}
        report = publish(runs, plan_path, results, notes, redraw=changed)
    return report


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise UserError(f"--seeds {text}: expected integers like 0,1,2") from None


def main(argv=None) -> None:
    parser = plan_arguments(__doc__, "the reproduction plan: pairs of configs and seeds",
                            "reproduce.yaml", runs="runs/reproduce", out="results")
    parser.add_argument("--seeds", help="train only these seeds, e.g. 0 or 0,1 (the report "
                        "always covers every run of the plan)")
    parser.add_argument("--publish-only", action="store_true",
                        help="train nothing, publish what the runs hold now")
    args = parser.parse_args(argv)
    if args.verbose:
        make_verbose()
    seeds = parse_seeds(args.seeds)
    check_plan_folders(args)
    import_tensorflow_quietly(say_device=not args.publish_only)
    report = reproduce(args.plan, args.runs, args.out, seeds, args.data_dir,
                       progress=not args.no_progress, train=not args.publish_only)
    print(f"wrote {report}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
