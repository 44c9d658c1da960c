"""Training plans: many runs described by one YAML file, trained one after the other.

The sweep (a grid of settings, captcha_cnn.experiments.sweep) and the reproduction (pairs of configs times
seeds, captcha_cnn.experiments.reproduce) are both plans. A plan file expands into `PlannedRun`s; every run's
config is checked before the first one trains; a finished run is skipped, an interrupted one
resumes, and a run another process is training right now is skipped, so the same command both
starts and completes a plan, and two at once never train one run twice.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

from captcha_cnn.core.config import REPO_ROOT, ConfigError, find_config, read_yaml
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.resume import first_difference


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its folder name, resolved config and folder, and the settings that tell
    it apart from the plan's other runs (for the report: pair and role, or optimizer and loss)."""

    name: str
    config: dict
    dir: Path
    tags: dict = field(default_factory=dict)
    published: bool = False  # Read from a published copy (results/), not trained here.


def read_plan_file(path: Path, allowed: set[str], required: set[str]) -> dict:
    """A plan file's mapping, with unknown and missing keys refused and `set` checked."""
    plan = read_yaml(find_config(str(path)))
    unknown, missing = sorted(set(plan) - allowed), sorted(required - set(plan))
    if unknown or missing:
        raise ConfigError(f"{path}: unknown keys {unknown} / missing keys {missing} "
                          f"(this plan has: {', '.join(sorted(allowed))})")
    if not isinstance(plan.get("set") or {}, dict):
        raise ConfigError(f"{path}: set: expected a mapping of KEY: VALUE")
    return plan


def with_published_copy(run: PlannedRun, published_runs: Path) -> PlannedRun:
    """The run read from its published copy (results/runs/<name>, committed) when it has not
    finished here (runs/ is not committed): a fresh checkout does not train it again."""
    published = Path(published_runs) / run.name
    here = Path(run.dir).resolve() == published.resolve()  # Planned straight into results/runs.
    if (RunDir(run.dir).is_finished() and not here) or not (published / "summary.json").is_file():
        return run
    check_published_config(RunDir(published), run.config)
    return replace(run, dir=published, published=True)


def check_published_config(published: RunDir, config: dict) -> None:
    """A published run stands for its planned run only if it was made with the same config: a
    config edited since then must not be reported with another config's numbers."""
    difference = first_difference(published.read_config(), config)
    if difference is not None:
        key, before, now = difference
        raise UserError(f"{published.config}: {key} is {before!r} in the published run but "
                        f"{now!r} in the plan; move the published run away to train it again")


def shared_overrides(plan: dict) -> list[str]:
    """The plan's `set` mapping as `--set` style overrides applied to every run."""
    return [f"{key}={value}" for key, value in (plan.get("set") or {}).items()]


def train_runs(runs: list[PlannedRun], data_dir: Path | None, progress: bool) -> None:
    """Train the runs one after the other: a finished run is left as it is, an interrupted one
    resumes, one another process holds is skipped; a run whose saved config differs is an error."""
    import keras  # TensorFlow only once the plan is known to be valid.

    from captcha_cnn.core.run_dir import RunDir, RunLocked
    from captcha_cnn.train.loop import train

    for number, run in enumerate(runs, start=1):
        print(f"[{number}/{len(runs)}] {run.name}", flush=True)
        try:
            train(run.config, run.name, run.dir, resume=RunDir(run.dir).config.is_file(),
                  data_dir=data_dir, progress=progress)
        except RunLocked as error:  # Another sweep or reproduction is training it right now.
            print(f"skipped: {error}", flush=True)
        keras.backend.clear_session()  # Free the last run's graphs before the next one.


def plan_arguments(description: str, plan_help: str, default_plan: str | None, runs: str,
                   out: str) -> argparse.ArgumentParser:
    """The arguments every plan's entry point takes: the plan file, where its runs and its
    published files go, the captcha cache, and quiet or verbose start."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if default_plan is None:
        parser.add_argument("plan", type=Path, metavar="PLAN_YAML", help=plan_help)
    else:
        parser.add_argument("plan", type=Path, nargs="?", default=Path(default_plan),
                            metavar="PLAN_YAML", help=f"{plan_help} (default: {default_plan})")
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / runs,
                        help=f"where the plan's runs go (default: {runs})")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / out,
                        help=f"where the figures, tables and small run files go (default: {out})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="captcha cache (default: data/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up messages")
    return parser
