"""Time to 98% whole-captcha held-out accuracy: the fast recipe (configs/fast.yaml, the median
over seeds) against the peer recipe (configs/peer.yaml), each from a cold start with its dataset
cached, in the same run. Part of `python -m captcha_cnn.perf.bench`.

The time runs until the end of the evaluation that first reaches 98%. The target is checked on
the held-out set itself (there is no separate validation set), so "first reached" is chosen on
the data it is reported on.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from captcha_cnn.core.config import load_config
from captcha_cnn.data import captchas

# Tiny settings for --quick: every code path of the recipes in seconds (no target is reached).
QUICK_RECIPE = ["data.width=64", "data.height=32", "data.train_size=128", "data.test_size=32",
                "train.steps=4", "train.eval_every=2", "train.batch_size=16",
                "train.eval_batch_size=32", "train.warmup_steps=0", "train.checkpoint_every=4"]


def time_to_target(config_name: str, overrides: list[str], data_dir: Path | None) -> dict:
    """Train a recipe from a cold start (the dataset cached) until its `train.stop_at_whole_acc`
    or its limits; return when it first reached the target, in wall seconds from the start
    (data loading and model building included) and in steps."""
    import keras

    from captcha_cnn.core.run_dir import RunDir
    from captcha_cnn.train.loop import train

    config, experiment = load_config(config_name, overrides)
    target = config["train"]["stop_at_whole_acc"]
    with tempfile.TemporaryDirectory() as folder:
        summary = train(config, experiment, Path(folder) / "run", data_dir=data_dir,
                        progress=False)
        rows = RunDir(Path(folder) / "run").read_metrics()
    keras.backend.clear_session()
    first = next((row for row in rows if target and row["test_whole_acc"] >= target), None)
    return {"config": config_name, "target_whole_acc": target,
            "reached": first is not None,
            # Until the end of the evaluation that first reached the target.
            "seconds_to_target": (summary["setup_s"] + first["elapsed_s"] + first["eval_s"]
                                  if first else None),
            "steps_to_target": first["step"] if first else None,
            "seconds_run": summary["setup_s"] + summary["elapsed_s"], "steps_run": summary["steps"],
            "stop_reason": summary["stop_reason"], "eval_share": summary["eval_share"],
            "final_whole_acc": rows[-1]["test_whole_acc"],
            "best_whole_acc": summary["best_test_whole_acc"]}


def recipes(quick: bool, repeats: int, data_dir: Path | None) -> dict:
    """The fast recipe with seeds 0 .. repeats - 1 and the peer recipe once (seed 0), side by
    side. The datasets are cached first, so that no timed run includes generating them."""
    overrides = QUICK_RECIPE if quick else []
    for config_name in ("fast.yaml", "peer.yaml"):
        config, _ = load_config(config_name, overrides)
        for split in ("train", "test"):
            captchas.load_or_generate(captchas.DatasetSpec.from_config(config, split),
                                      data_dir or captchas.DEFAULT_DATA_DIR, progress=False)
    fast = [time_to_target("fast.yaml", [*overrides, f"seed={seed}"], data_dir)
            for seed in range(repeats)]
    peer = time_to_target("peer.yaml", overrides, data_dir)
    return compare_recipes(fast, peer)


def compare_recipes(fast: list[dict], peer: dict) -> dict:
    """The benchmark's keys from the recipes' runs: the fast recipe's median (only if every seed
    reached the target) and the peer's time, as a ratio."""
    reached = [run["seconds_to_target"] for run in fast if run["reached"]]
    all_reached = len(reached) == len(fast)
    fast_seconds = statistics.median(reached) if all_reached else None
    peer_seconds = peer["seconds_to_target"] if peer["reached"] else None
    # A peer stopped by its time limit took at least that long: the ratio is then a lower bound.
    peer_at_least = peer_seconds or peer["seconds_run"]
    return {"fast_runs": fast, "peer_run": peer,
            "fast_reached_98": all_reached,
            "fast_seconds_to_98": fast_seconds,
            "fast_steps_to_98": (statistics.median(run["steps_to_target"] for run in fast)
                                 if all_reached else None),
            "peer_seconds_to_98": peer_seconds, "peer_reached_98": peer["reached"],
            "peer_vs_fast": peer_at_least / fast_seconds if fast_seconds else None,
            "peer_vs_fast_is_lower_bound": not peer["reached"]}


def recipe_rows(r: dict) -> list[str]:
    def seconds(run):
        if run["reached"]:
            return (f"{run['seconds_to_target']:.0f} s, {run['steps_to_target']} steps "
                    f"(evaluation {run['eval_share']:.1%} of the run)")
        return (f"not reached: {run['final_whole_acc']:.1%} after {run['seconds_run']:.0f} s, "
                f"{run['steps_run']} steps ({run['stop_reason']}; evaluation "
                f"{run['eval_share']:.1%} of the run)")

    rows = [f"| time to 98% whole-captcha held-out accuracy, fast.yaml, run {i + 1} | "
            f"{seconds(run)} |" for i, run in enumerate(r["fast_runs"])]
    rows.append(f"| time to 98%, peer.yaml (ypwhs/captcha_break's CNN) | {seconds(r['peer_run'])} |")
    if r["peer_vs_fast"] is not None:
        bound = "at least " if r["peer_vs_fast_is_lower_bound"] else ""
        rows.append(f"| peer / fast (median of the fast runs) | {bound}{r['peer_vs_fast']:.1f}x |")
    return rows
