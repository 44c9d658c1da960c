"""Where each measured setting lands against the seed's two halves at once: one point per seed.

    python -m captcha_cnn.tradeoff docs/stall/tradeoff.yaml --out docs/stall/tradeoff

A settings file names, for each setting, its correct runs and its buggy runs (run folders or
glob patterns, relative to the file). Runs of one setting are paired by their `seed`. Each pair
is a point: across, the correct run's held-out accuracy per character at step 4,000 (the seed:
98%); up, the buggy run's best from step 1,000 on (the seed: nothing moves, so chance; here at
most 15%, as results/REPORT.md judges it). The seed's claim is the corner where both hold. Writes
tradeoff.png and tradeoff.md (every run, including those without a twin or stopped early).
Reads metrics only: no TensorFlow, no training.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from captcha_cnn.cli import run_cli
from captcha_cnn.config import ConfigError, read_yaml
from captcha_cnn.errors import UserError
from captcha_cnn.evaluation import load_run
from captcha_cnn.files import write_atomically
from captcha_cnn.levels import STALLED_FACTOR
from captcha_cnn.plots import plt, save_figure

# The seed's words: "98% after 4,000 steps" for the correct run; the buggy run judged from
# step 1,000, as the reproduction report does.
CORRECT_STEP, CORRECT_TARGET, BUGGY_FROM = 4000, 0.98, 1000
# The tutorial read its accuracy on 100 fresh captchas at each evaluation (SCIENCE.md section 2).
TUTORIAL_EVAL_CAPTCHAS = 100
ROLES = ("correct", "buggy")


@dataclass(frozen=True)
class RunReading:
    """What one run says about its half of the seed's claim."""

    path: Path
    seed: int
    last_step: int
    minutes: float
    device: str
    stalled_level: float          # STALLED_FACTOR x chance per character: at or below, stalled
    left_chance: int | None      # first evaluation above STALLED_FACTOR x chance
    at_target_step: float | None  # held-out per character at CORRECT_STEP, if logged
    first_target: int | None      # first evaluation at CORRECT_TARGET or above
    best_from: float | None       # best held-out per character from BUGGY_FROM on
    tutorial_readout: float       # chance the tutorial's own readout shows 98% by CORRECT_STEP


def read_run(path: Path) -> RunReading:
    run = load_run(path)
    rows, stalled = run["rows"], STALLED_FACTOR * run["chance"]["char"]
    accuracy = {row["step"]: row["test_char_acc"] for row in rows}
    later = [value for step, value in accuracy.items() if step >= BUGGY_FROM]
    return RunReading(
        path=path, seed=run["config"]["seed"], last_step=rows[-1]["step"],
        minutes=rows[-1]["elapsed_s"] / 60, device=_device(run), stalled_level=stalled,
        left_chance=next((step for step, value in accuracy.items() if value > stalled), None),
        at_target_step=accuracy.get(CORRECT_STEP),
        first_target=next((step for step, value in accuracy.items() if value >= CORRECT_TARGET),
                          None),
        best_from=max(later) if later else None,
        tutorial_readout=tutorial_readout_chance(accuracy, run["config"]["data"]["length"]))


def tutorial_readout_chance(accuracy: dict[int, float], length: int) -> float:
    """The chance that the tutorial's way of reading accuracy (100 fresh captchas at each
    evaluation) shows CORRECT_TARGET at least once by CORRECT_STEP, for a run whose accuracy on
    the held-out set was `accuracy` at those evaluations ({step: per-character accuracy}).

    Each readout counts as 100 x `length` independent characters, each right with the held-out
    probability. Errors cluster within hard captchas, which widens the spread of a readout, so
    for runs below the target this understates the chance of a lucky 98%."""
    characters = TUTORIAL_EVAL_CAPTCHAS * length
    # round(): 0.98 x 400 is 392 exactly, not 392.00000000000006.
    needed = math.ceil(round(CORRECT_TARGET * characters, 9))
    never = 1.0
    for step, p in accuracy.items():
        if step <= CORRECT_STEP:
            shows = sum(math.comb(characters, right) * p ** right * (1 - p) ** (characters - right)
                        for right in range(needed, characters + 1))
            never *= 1 - shows
    return 1 - never


def _device(run: dict) -> str:
    """The device, with the CPU's widest vector unit: AVX-512 and AVX2-only machines differ
    about 6x in matmul peak (docs/performance.md)."""
    extensions = run["environment"].get("cpu", {}).get("extensions", [])
    widest = next((name for name in ("AVX-512", "AVX2") if name in extensions), None)
    return f"{run['device']}, {widest}" if widest else run["device"]


def read_settings(path: Path) -> dict[str, dict[str, list[RunReading]]]:
    """{setting: {"correct": [runs], "buggy": [runs]}}, each role's runs in seed order."""
    settings = read_yaml(path).get("settings")
    if not isinstance(settings, dict) or not settings:
        raise ConfigError(f"{path}: expected a 'settings' mapping of setting names to "
                          f"{{correct: [run folders], buggy: [run folders]}}")
    readings = {}
    for name, roles in settings.items():
        if not isinstance(roles, dict) or set(roles) != set(ROLES):
            raise ConfigError(f"{path}: settings.{name}: expected exactly the keys correct and "
                              f"buggy, got {sorted(roles) if isinstance(roles, dict) else roles!r}")
        readings[name] = {role: _runs_of(path, f"settings.{name}.{role}", roles[role])
                          for role in ROLES}
    return readings


def _runs_of(path: Path, key: str, patterns) -> list[RunReading]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not (isinstance(patterns, list) and all(isinstance(p, str) for p in patterns)):
        raise ConfigError(f"{path}: {key}: expected run folders or glob patterns, got "
                          f"{patterns!r}")
    runs = []
    for pattern in patterns:
        matches = sorted(match for match in path.parent.glob(pattern) if match.is_dir())
        if not matches:
            raise ConfigError(f"{path}: {key}: '{pattern}' matches no run folder (relative to "
                              f"{path.parent})")
        runs += [read_run(match) for match in matches]
    seeds = [run.seed for run in runs]
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ConfigError(f"{path}: {key}: more than one run of seed {repeated[0]}; "
                          f"runs are paired by seed, so each seed may appear once")
    return sorted(runs, key=lambda run: run.seed)


def pairs(roles: dict[str, list[RunReading]]) -> list[tuple[RunReading, RunReading]]:
    """(correct, buggy) runs of the same seed."""
    buggy = {run.seed: run for run in roles["buggy"]}
    return [(run, buggy[run.seed]) for run in roles["correct"] if run.seed in buggy]


def holds(correct: RunReading, buggy: RunReading) -> bool:
    """Both halves of the seed's claim, for one seed: the correct run at 98% by step 4,000 and
    the buggy run at chance from step 1,000 to at least step 6,000."""
    return (correct.first_target is not None and correct.first_target <= CORRECT_STEP
            and buggy.best_from is not None and buggy.last_step >= 6000
            and buggy.best_from <= buggy.stalled_level)


def stalled_level(readings: dict[str, dict[str, list[RunReading]]], path: Path) -> float:
    """The one level every run is judged against (runs of different charsets cannot share a
    map: their chance levels differ)."""
    levels = {round(run.stalled_level, 9) for roles in readings.values() for role in ROLES
              for run in roles[role]}
    if len(levels) > 1:
        raise ConfigError(f"{path}: runs of different charsets (stalled levels "
                          f"{sorted(levels)}) cannot share one map")
    return levels.pop()


def plot(readings: dict[str, dict[str, list[RunReading]]], level: float, out: Path) -> None:
    figure, axis = plt.subplots(figsize=(7.5, 6.2))
    # The y axis runs from -0.02 to 1.02: the band's top as a fraction of that span.
    axis.axvspan(CORRECT_TARGET, 1.02, ymin=0, ymax=(level + 0.02) / 1.04,
                 color="tab:green", alpha=0.15, label="the seed's claim (both halves)")
    axis.axvline(CORRECT_TARGET, color="grey", linestyle=":", linewidth=1)
    axis.axhline(level, color="grey", linestyle=":", linewidth=1)
    markers = "osD^vP*X"
    for index, (name, roles) in enumerate(readings.items()):
        points = [(c, b) for c, b in pairs(roles) if c.at_target_step is not None
                  and b.best_from is not None]
        if not points:
            continue
        axis.scatter([c.at_target_step for c, _ in points], [b.best_from for _, b in points],
                     marker=markers[index % len(markers)], s=55, alpha=0.8, label=name)
        for correct, buggy in points:
            axis.annotate(str(correct.seed), (correct.at_target_step, buggy.best_from),
                          textcoords="offset points", xytext=(5, 4), fontsize=7)
    axis.set_xlim(-0.02, 1.02)
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel(f"correct run: held-out accuracy per character at step {CORRECT_STEP:,}")
    axis.set_ylabel(f"buggy run: best held-out accuracy per character from step {BUGGY_FROM:,}")
    axis.set_title("one point per seed (its number beside it)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    save_figure(figure, out)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _chance(value: float) -> str:
    """A probability in whole percent, never rounded to a certainty it is not."""
    if 0 < value < 0.005:
        return "<1%"
    if 0.995 < value < 1:
        return ">99%"
    return f"{value:.0%}"


def _step(value: int | None, run: RunReading) -> str:
    return f"{value:,}" if value is not None else f"not by {run.last_step:,}"


def table(readings: dict[str, dict[str, list[RunReading]]]) -> str:
    lines = ["| setting | seed | correct: left chance | correct at 4,000 | correct: first 98% "
             "| correct: tutorial's readout shows 98% by 4,000 (chance) | buggy: left chance "
             "| buggy: best from 1,000 | both halves? |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, roles in readings.items():
        correct = {run.seed: run for run in roles["correct"]}
        buggy = {run.seed: run for run in roles["buggy"]}
        for seed in sorted(set(correct) | set(buggy)):
            c, b = correct.get(seed), buggy.get(seed)
            at_target = (_percent(c.at_target_step) if c and c.last_step >= CORRECT_STEP
                         else f"(stopped at {c.last_step:,})" if c else "")
            cells = [_step(c.left_chance, c), at_target, _step(c.first_target, c),
                     _chance(c.tutorial_readout)] if c else ["(not run)"] * 4
            cells += [_step(b.left_chance, b), _percent(b.best_from)
                      + ("" if b.last_step >= 6000 else f" (to {b.last_step:,})")] \
                if b else ["(not run)"] * 2
            verdict = ("yes" if holds(c, b) else "no") if c and b else "-"
            lines.append(f"| {name} | {seed} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines) + "\n"


def runs_list(readings: dict[str, dict[str, list[RunReading]]]) -> str:
    lines = ["| run | last step | minutes | device |", "|---|---:|---:|---|"]
    for roles in readings.values():
        for role in ROLES:
            for run in roles[role]:
                lines.append(f"| {run.path.name} | {run.last_step:,} | {run.minutes:.1f} | "
                             f"{run.device} |")
    return "\n".join(lines) + "\n"


def write(settings_path: Path, out: Path) -> list[Path]:
    readings = read_settings(settings_path)
    level = stalled_level(readings, settings_path)
    out.mkdir(parents=True, exist_ok=True)
    figure, report = out / "tradeoff.png", out / "tradeoff.md"
    plot(readings, level, figure)
    text = (f"# The seed's two halves, setting by setting\n\n"
            f"Made by `python -m captcha_cnn.tradeoff {settings_path}` from each run's "
            f"metrics.jsonl. A seed gives both halves when its correct run reaches "
            f"{CORRECT_TARGET:.0%} held-out per character by step {CORRECT_STEP:,} and its buggy "
            f"run stays at most {level:.0%} per character from step {BUGGY_FROM:,} to at least "
            f"step 6,000.\n\n![one point per seed]({figure.name})\n\n"
            f"The tutorial read its accuracy differently: on {TUTORIAL_EVAL_CAPTCHAS} fresh "
            f"captchas every 100 steps, a noisy readout that can show 98% before the network "
            f"is there. The readout column is the chance that such a readout, taken at each of "
            f"the run's evaluations up to step {CORRECT_STEP:,}, shows {CORRECT_TARGET:.0%} at "
            f"least once, given the accuracy the run had there on the held-out set (characters "
            f"counted as independent; errors that cluster within captchas make a lucky readout "
            f"likelier still).\n\n{table(readings)}\n"
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
    args = parser.parse_args(argv)
    if not args.settings.is_file():
        raise UserError(f"{args.settings}: no such settings file")
    for path in write(args.settings, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
