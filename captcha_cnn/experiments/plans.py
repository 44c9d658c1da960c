"""Training plans: many runs described by one YAML file, trained one after the other.

The sweep (a grid of settings, captcha_cnn.experiments.sweep) and the reproduction (pairs of configs times
seeds, captcha_cnn.experiments.reproduce) are both plans. A plan file expands into `PlannedRun`s; every run's
config is checked before the first one trains; a finished run is skipped, an interrupted one
resumes, and a run another process is training right now is skipped, so the same command both
starts and completes a plan, and two at once never train one run twice.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from captcha_cnn.core.config import REPO_ROOT, find_config, load_config, load_defaults, merge
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.files import check_folder_argument
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.core.yaml_files import read_yaml
from captcha_cnn.data.sources import prepare_data, resolve_config
from captcha_cnn.model.memory import check_memory
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
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown key (a plan may have: "
                          f"{', '.join(sorted(allowed))})")
    if missing:
        raise ConfigError(f"{path}: {missing[0]}: missing (a plan needs: "
                          f"{', '.join(sorted(required))})")
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


def refuse_same_file_pairs(pairs: dict, path: Path) -> None:
    """A pair whose correct and buggy configs are one file would judge a run against itself."""
    for name, (correct, buggy) in pairs.items():
        if find_config(correct).resolve() == find_config(buggy).resolve():
            raise ConfigError(f"{path}: pairs.{name}: {correct!r} and {buggy!r} are the same "
                              f"file ({find_config(correct)}); a pair needs a correct and a "
                              f"buggy config")


def _described(run: PlannedRun) -> str:
    tags = ", ".join(f"{key} {value}" for key, value in run.tags.items())
    return f"{run.name} ({tags})" if tags else run.name


def planned_config(name: str, overrides: list[str]) -> dict:
    """A planned run's config as the run will save it: a folder's charset and length filled in
    from its labels, so a published run and the plan compare equal."""
    return resolve_config(load_config(name, overrides)[0])


def check_planned_runs(runs: list[PlannedRun], path: Path, same_config_within=(),
                       data_dir: Path | None = None) -> None:
    """Before anything trains: every run's data is usable (a drawable charset; a folder read
    into the cache, its files and labels checked), no two runs share a folder, and
    no two runs that the report compares or counts together (those with equal values of the
    tags `same_config_within`; all runs when it is empty) have the same config, which would
    count one run as two, or judge a run against itself."""
    folders: dict[Path, PlannedRun] = {}
    configs: dict[tuple, PlannedRun] = {}
    for run in runs:
        if not run.published:
            check_memory(run.config, f"{path}: {run.name}")
            prepare_data(run.config, f"{path}: {run.name}", data_dir, progress=False)
        folder = Path(run.dir).resolve()
        if folder in folders:
            raise ConfigError(f"{path}: {_described(folders[folder])} and {_described(run)} "
                              f"would share the folder {run.dir}")
        folders[folder] = run
        key = (tuple(run.tags.get(tag) for tag in same_config_within),
               json.dumps(run.config, sort_keys=True))
        if key in configs:
            raise ConfigError(f"{path}: {_described(configs[key])} and {_described(run)} have "
                              f"the same config: the report would count one run as two, or judge "
                              f"a run against itself; "
                              f"make them differ or list the setting once")
        configs[key] = run


def check_plan_folders(args: argparse.Namespace) -> None:
    """The folders a plan's entry point writes or reads, checked before any run trains."""
    for flag, folder in (("--runs", args.runs), ("--out", args.out),
                         ("--data-dir", args.data_dir)):
        if folder is not None:
            check_folder_argument(folder, flag)
    runs, out = Path(args.runs).resolve(), Path(args.out).resolve()
    if runs == out or out in runs.parents:
        raise UserError(f"--runs {args.runs} is inside --out {args.out}: the runs (checkpoints, "
                        f"models) would mix with the small files published there, and a run "
                        f"would be copied onto itself; give --runs a folder outside --out")


def set_overrides(mapping, where: str) -> list[str]:
    """A plan's `set:` mapping as `--set` texts that mean exactly what the values mean in a
    config file: each value is checked against the defaults as a config file's would be (so
    `data.charset: 0123`, which YAML reads as the octal number 83, is refused as a config file
    refuses it, never turned into the charset "83"), then written so that --set reads it back
    unchanged (a string as its raw text, anything else as YAML)."""
    if not isinstance(mapping or {}, dict):
        raise ConfigError(f"{where}: expected a mapping of KEY: VALUE")
    defaults, texts = load_defaults(), []
    for dotted, value in (mapping or {}).items():
        nested = value
        for key in reversed(str(dotted).split(".")):
            nested = {key: nested}
        merge(defaults, nested, where)  # The config file's checks: known key, right type.
        text = value if isinstance(value, str) else yaml.safe_dump(
            value, default_flow_style=True, width=float("inf")).removesuffix("\n...\n").strip()
        texts.append(f"{dotted}={text}")
    return texts


def shared_overrides(plan: dict, path: Path) -> list[str]:
    """The plan's `set` mapping as `--set` style overrides applied to every run."""
    return set_overrides(plan.get("set"), f"{path}: set")


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
