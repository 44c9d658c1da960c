"""Where each measured setting lands against the seed's two halves at once: one point per seed.

    python -m captcha_cnn.analysis.tradeoff SETTINGS_YAML --out DIR

The published map is made by the reproduction (`python -m captcha_cnn.experiments.reproduce`)
from the `tradeoff:` section of configs/reproduce.yaml, into results/tradeoff/; this entry point
draws a map of other runs. A settings file names, for each setting, its correct runs and its
buggy runs (run folders or glob patterns, relative to the file). Runs of one setting are paired
by their `seed`. Each pair is a point: across, the correct run's held-out accuracy per character
at the claim's step (the seed: 98% after 4,000 iterations); up, the buggy run's best from the
claim's first judged step on (the seed: nothing moves, so chance). The thresholds are the
`claims:` of the reproduction plan, as results/REPORT.md judges them. The seed's claim is the
corner where both hold. Writes tradeoff.png and tradeoff.md (every run, including those without
a twin or stopped early). Reads metrics only: no TensorFlow, no training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.analysis.claims import DEFAULT_PLAN, SeedClaim, read_claims
from captcha_cnn.analysis.judging import both_halves
from captcha_cnn.analysis.plots import plt, save_figure
from captcha_cnn.analysis.run_reading import ROLES, TUTORIAL_EVAL_CAPTCHAS, RunReading, by_seed, pairs
from captcha_cnn.analysis.tradeoff_settings import read_settings
from captcha_cnn.core.cli import run_cli
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.files import write_atomically


def points(readings: dict[str, dict[str, list[RunReading]]]) -> dict[str, list[tuple]]:
    """Per setting, the plotted (correct accuracy at the claim's step, buggy best from its
    window's start, seed) of each seed that has both."""
    plotted = {}
    for name, roles in readings.items():
        plotted[name] = [(c.accuracy_at_correct_step, b.best_from_buggy_start, c.seed)
                         for c, b in pairs(roles) if c.accuracy_at_correct_step is not None
                         and b.best_from_buggy_start is not None]
    return plotted


def stalled_level(readings: dict[str, dict[str, list[RunReading]]], path: Path) -> float:
    """The one level every run is judged against (runs of different charsets cannot share a
    map: their chance levels differ)."""
    levels = {round(run.stalled_level, 9) for roles in readings.values() for role in ROLES
              for run in roles[role]}
    if len(levels) > 1:
        raise ConfigError(f"{path}: runs of different charsets (stalled levels "
                          f"{sorted(levels)}) cannot share one map")
    return levels.pop()


def plot(readings: dict[str, dict[str, list[RunReading]]], level: float, claim: SeedClaim,
         out: Path) -> None:
    figure, axis = plt.subplots(figsize=(7.5, 6.2))
    # The y axis runs from -0.02 to 1.02: the band's top as a fraction of that span.
    axis.axvspan(claim.correct_accuracy, 1.02, ymin=0, ymax=(level + 0.02) / 1.04,
                 color="tab:green", alpha=0.15, label="the seed's claim (both halves)")
    axis.axvline(claim.correct_accuracy, color="grey", linestyle=":", linewidth=1)
    axis.axhline(level, color="grey", linestyle=":", linewidth=1)
    markers = "osD^vP*X"
    for index, (name, seeds) in enumerate(points(readings).items()):
        if not seeds:
            continue
        axis.scatter([x for x, _, _ in seeds], [y for _, y, _ in seeds],
                     marker=markers[index % len(markers)], s=55, alpha=0.8, label=name)
        for x, y, seed in seeds:
            axis.annotate(str(seed), (x, y), textcoords="offset points", xytext=(5, 4),
                          fontsize=7)
    axis.set_xlim(-0.02, 1.02)
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel(f"correct run: held-out accuracy per character at step "
                    f"{claim.correct_step:,}")
    axis.set_ylabel(f"buggy run: best held-out accuracy per character from step "
                    f"{claim.buggy_from_step:,}")
    axis.set_title("one point per seed (its number beside it)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    save_figure(figure, out)


def _chance(value: float) -> str:
    """A probability in whole percent, never rounded to a certainty it is not."""
    if 0 < value < 0.005:
        return "<1%"
    if 0.995 < value < 1:
        return ">99%"
    return f"{value:.0%}"


def _step(value: int | None, run: RunReading) -> str:
    return f"{value:,}" if value is not None else f"not by {run.last_step:,}"


def _correct_cells(run: RunReading | None) -> list[str]:
    if run is None:
        return ["(not run)"] * 4
    if run.accuracy_at_correct_step is not None:
        at_step = f"{run.accuracy_at_correct_step:.1%}"
    elif run.last_step < run.claim.correct_step:
        at_step = f"(stopped at {run.last_step:,})"
    else:
        at_step = f"(no evaluation at {run.claim.correct_step:,})"
    return [_step(run.step_left_chance, run), at_step, _step(run.step_first_target, run),
            _chance(run.tutorial_readout)]


def _buggy_cells(run: RunReading | None) -> list[str]:
    if run is None:
        return ["(not run)"] * 2
    best = ("-" if run.best_from_buggy_start is None
            else f"{run.best_from_buggy_start:.1%}")
    if run.last_step < run.claim.buggy_to_step:
        best += f" (to {run.last_step:,})"
    return [_step(run.step_left_chance, run), best]


def table(readings: dict[str, dict[str, list[RunReading]]], level: float,
          claim: SeedClaim) -> str:
    step, target = f"{claim.correct_step:,}", f"{claim.correct_accuracy:.0%}"
    lines = [f"| setting | seed | correct: left chance ({level:.0%}) | correct at {step} | "
             f"correct: first {target} | correct: tutorial's readout shows {target} by {step} "
             f"(chance) | buggy: left chance | buggy: best from {claim.buggy_from_step:,} | "
             f"both halves? |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, roles in readings.items():
        correct, buggy = by_seed(roles["correct"]), by_seed(roles["buggy"])
        for seed in sorted(set(correct) | set(buggy)):
            c, b = correct.get(seed), buggy.get(seed)
            judged = both_halves(c, b) if c and b else "-"
            cells = _correct_cells(c) + _buggy_cells(b)
            lines.append(f"| {name} | {seed} | " + " | ".join(cells) + f" | {judged} |")
    return "\n".join(lines) + "\n"


def runs_list(readings: dict[str, dict[str, list[RunReading]]]) -> str:
    lines = ["| run | last step | minutes | device |", "|---|---:|---:|---|"]
    for roles in readings.values():
        for role in ROLES:
            for run in roles[role]:
                lines.append(f"| {run.path.name} | {run.last_step:,} | {run.minutes:.1f} | "
                             f"{run.device} |")
    return "\n".join(lines) + "\n"


def write(settings_path: Path, out: Path, claim: SeedClaim) -> list[Path]:
    """The map of a settings file's runs: tradeoff.png and tradeoff.md in `out`."""
    made_by = f"python -m captcha_cnn.analysis.tradeoff {settings_path}"
    return write_map(read_settings(settings_path, claim), claim, out, made_by, settings_path)


def write_map(readings: dict[str, dict[str, list[RunReading]]], claim: SeedClaim, out: Path,
              made_by: str, source: Path | str) -> list[Path]:
    """Draw the map of `readings` and write its table: tradeoff.png and tradeoff.md in `out`;
    `made_by` is the command the page names as its maker."""
    level = stalled_level(readings, source)
    out.mkdir(parents=True, exist_ok=True)
    figure, report = out / "tradeoff.png", out / "tradeoff.md"
    plot(readings, level, claim, figure)
    step, target = f"{claim.correct_step:,}", f"{claim.correct_accuracy:.0%}"
    text = (f"# The seed's two halves, setting by setting\n\n"
            f"Made by `{made_by}` from each run's "
            f"metrics.jsonl. A seed gives both halves when its correct run is at "
            f"{target} held-out per character at step {step} and its buggy "
            f"run stays below {level:.0%} per character from step {claim.buggy_from_step:,} to "
            f"step {claim.buggy_to_step:,}.\n\n![one point per seed]({figure.name})\n\n"
            f"The tutorial read its accuracy differently: on {TUTORIAL_EVAL_CAPTCHAS} fresh "
            f"captchas every 100 steps, a noisy readout that can show 98% before the network "
            f"is there. The readout column is the chance that such a readout, taken at each of "
            f"the run's evaluations up to step {step}, shows {target} at "
            f"least once, given the accuracy the run had there on the held-out set (characters "
            f"counted as independent; errors that cluster within captchas make a lucky readout "
            f"likelier still).\n\n{table(readings, level, claim)}\n"
            f"Runs (minutes of wall time as logged; see each setting's section for how many "
            f"ran side by side):\n\n{runs_list(readings)}")
    write_atomically(report, text.encode())
    return [figure, report]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", type=Path, metavar="SETTINGS_YAML",
                        help="settings with their correct and buggy runs")
    parser.add_argument("--out", type=Path, required=True, help="folder for tradeoff.png/.md")
    parser.add_argument("--claims", type=Path, default=DEFAULT_PLAN, metavar="PLAN_YAML",
                        help="the plan whose claims: section holds the thresholds (default: "
                             "configs/reproduce.yaml)")
    args = parser.parse_args(argv)
    if not args.settings.is_file():
        raise UserError(f"{args.settings}: no such settings file")
    for path in write(args.settings, args.out, read_claims(args.claims)):
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
