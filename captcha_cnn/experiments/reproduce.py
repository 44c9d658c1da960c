"""The full reproduction: train every pair of configs for every seed, then publish `results/`.

    python -m captcha_cnn.experiments.reproduce                     # train what is missing, publish results/
    python -m captcha_cnn.experiments.reproduce --seeds 0           # seed 0 of every pair first
    python -m captcha_cnn.experiments.reproduce --publish-only      # train nothing: publish what runs hold

The plan (configs/reproduce.yaml, read by reproduce_plan.py) names pairs of experiment configs
(correct, buggy) with their seeds and the runs published for them before, the studies (existing
runs compared side by side), the map's settings, the sweep, the seed's claim as thresholds and the
report's words. Finished runs are skipped and interrupted ones resume; published runs
(results/runs/, committed) are read, never trained again, so one command both starts and
completes the work, and on a fresh checkout regenerates every figure and table of results/ from
the published runs alone. What is published is small: each run's resolved config, metrics,
environment and summary, one figure per pair (mean over seeds with a min-max band), each study's
figures and table (results/studies/<name>/), the map (results/tradeoff/), the sweep's heatmap
(results/sweep/) and REPORT.md, every number in it read from those metrics.
"""

from __future__ import annotations

import sys
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.experiments.plans import (
    PlannedRun,
    check_plan_folders,
    check_planned_runs,
    check_published_config,
    plan_arguments,
    planned_config,
    train_runs,
    with_published_copy,
)
from captcha_cnn.experiments.publish import publish, study_paths
from captcha_cnn.experiments.reproduce_plan import ReproductionPlan, read_plan


def check_seeds(plan: ReproductionPlan, seeds: list[int] | None) -> None:
    unknown = sorted(set(seeds or []) - set(plan.all_seeds()))
    if unknown:
        raise UserError(f"--seeds: {unknown} not in the plan's seeds {plan.all_seeds()}")


def planned_runs(plan: ReproductionPlan, runs_dir: Path, results: Path) -> list[PlannedRun]:
    """Every run of the plan's pairs, checked as configs before anything trains. A run finished
    and published earlier (results/ is committed, runs/ is not) is read from results/ instead of
    being trained again on a fresh checkout; a pair's `published` runs are only ever read."""
    published_runs = Path(results) / "runs"
    runs = []
    for pair in plan.pairs.values():
        for role, config_name in zip(("correct", "buggy"), pair.configs, strict=True):
            for seed in pair.seeds:
                config = planned_config(config_name, [*pair.overrides, f"seed={seed}"])
                name = run_name(pair.name, role, seed)
                run = PlannedRun(name, config, Path(runs_dir) / name,
                                 {"pair": pair.name, "role": role, "seed": seed})
                runs.append(with_published_copy(run, published_runs))
            for name in pair.published.get(role, []):
                runs.append(published_run(plan, pair.name, role, config_name, name,
                                          published_runs))
    return runs


def run_name(pair: str, role: str, seed: int) -> str:
    """Every published run is named <setting>_<role>-<variant>: stall_correct-seed0."""
    return f"{pair}_{role}-seed{seed}"


def published_run(plan: ReproductionPlan, pair: str, role: str, config_name: str, name: str,
                  published_runs: Path) -> PlannedRun:
    """A run published before the plan named it: it must be in results/runs and made with the
    pair's config (its own seed), so its numbers are the pair's."""
    record = RunDir(published_runs / name)
    if not record.config.is_file():
        raise ConfigError(f"{plan.path}: pairs.{pair}.published.{role}: {name} is not a run in "
                          f"{published_runs}")
    seed = record.read_config().get("seed")
    overrides = [*plan.pairs[pair].overrides, f"seed={seed}"]
    config = planned_config(config_name, overrides)
    check_published_config(record, config)
    return PlannedRun(name, config, record.path, {"pair": pair, "role": role, "seed": seed},
                      published=True)


def reproduce(plan_path: Path, runs_dir: Path, results: Path, seeds: list[int] | None = None,
              data_dir: Path | None = None, progress: bool = True,
              train: bool = True) -> Path:
    """Train the plan's runs that are not finished (only those of `seeds` if given; none if
    `train` is False), then publish every run of the plan that has started, whatever its seed;
    unfinished runs are marked as such in the report. Studies, the map and the sweep are redrawn
    once at the end, from published runs only."""
    plan = read_plan(plan_path)
    check_seeds(plan, seeds)  # Before anything happens.
    runs = planned_runs(plan, runs_dir, results)
    check_planned_runs(runs, plan_path, same_config_within=("pair", "seed"), data_dir=data_dir)
    study_paths(plan, results)  # Every study's runs present, before anything trains.
    if train:
        for run in runs:  # Publish after every run: an interrupted reproduction shows its work.
            if seeds is not None and run.tags["seed"] not in seeds:
                continue
            if run.published:
                print(f"{run.name}: finished and published in {run.dir}; not trained again")
                continue
            train_runs([run], data_dir, progress)
            publish(runs, plan, results, redraw={run.tags["pair"]})
    return publish(runs, plan, results)


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
