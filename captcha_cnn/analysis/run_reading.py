"""One run read against the seed's claim: when it left chance, where it was at the claim's step,
its best from the buggy window's start; and runs paired by seed.

Reads metrics only: no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from captcha_cnn.analysis.claims import SeedClaim
from captcha_cnn.analysis.compare import load_run
from captcha_cnn.core.machine import cpu_kind
from captcha_cnn.model.levels import steps_to

# The tutorial read its accuracy on 100 fresh captchas at each evaluation (docs/seed.md section 3).
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
    claim: SeedClaim                     # the thresholds it is judged against
    stalled_level: float                 # claim's multiple of chance per character
    step_left_chance: int | None         # first evaluation at stalled_level or above
    accuracy_at_correct_step: float | None  # held-out per character at the claim's step
    step_first_target: int | None        # first evaluation at the claim's accuracy or above
    best_from_buggy_start: float | None  # best held-out per character from the buggy window on
    tutorial_readout: float              # chance the tutorial's readout shows the target in time
    config: dict = field(default_factory=dict, compare=False, repr=False)  # the run's config


def read_run(path: Path, claim: SeedClaim) -> RunReading:
    run = load_run(path)
    rows, stalled = run["rows"], claim.stalled_level(run["chance"]["char"])
    accuracy = {row["step"]: row["test_char_acc"] for row in rows}
    later = [value for step, value in accuracy.items() if step >= claim.buggy_from_step]
    return RunReading(
        path=path, seed=run["config"]["seed"], last_step=rows[-1]["step"],
        minutes=rows[-1]["elapsed_s"] / 60, device=_device(run), claim=claim,
        stalled_level=stalled, step_left_chance=steps_to(rows, "test_char_acc", stalled),
        accuracy_at_correct_step=accuracy.get(claim.correct_step),
        step_first_target=steps_to(rows, "test_char_acc", claim.correct_accuracy),
        best_from_buggy_start=max(later) if later else None,
        tutorial_readout=tutorial_readout_chance(accuracy, run["config"]["data"]["length"],
                                                 claim),
        config=run["config"])


def tutorial_readout_chance(accuracy: dict[int, float], length: int, claim: SeedClaim) -> float:
    """The chance that the tutorial's way of reading accuracy (100 fresh captchas at each
    evaluation) shows the claim's accuracy at least once by the claim's step, for a run whose
    accuracy on the held-out set was `accuracy` at those evaluations ({step: per-character
    accuracy}).

    Each readout counts as 100 x `length` independent characters, each right with the held-out
    probability. Errors cluster within hard captchas, which widens the spread of a readout, so
    for runs below the target this understates the chance of a lucky 98%."""
    characters = TUTORIAL_EVAL_CAPTCHAS * length
    # round(): 0.98 x 400 is 392 exactly, not 392.00000000000006.
    needed = math.ceil(round(claim.correct_accuracy * characters, 9))
    never = math.prod(1 - _binomial_at_least(needed, characters, p)
                      for step, p in accuracy.items() if step <= claim.correct_step)
    return 1 - never


def _binomial_at_least(k: int, n: int, p: float) -> float:
    """P(at least k of n independent trials succeed), each with probability p."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def _device(run: dict) -> str:
    """The device, with the kind of CPU: AVX-512 and AVX2-only machines differ about 6x in
    matmul peak (docs/performance.md). Runs logged before the CPU was recorded say unknown."""
    extensions = run["environment"].get("cpu", {}).get("extensions")
    return f"{run['device']}, {cpu_kind(extensions) if extensions else 'CPU kind unknown'}"


def by_seed(runs: list[RunReading]) -> dict[int, RunReading]:
    return {run.seed: run for run in runs}


def pairs(roles: dict[str, list[RunReading]]) -> list[tuple[RunReading, RunReading]]:
    """(correct, buggy) runs of the same seed."""
    buggy = by_seed(roles["buggy"])
    return [(run, buggy[run.seed]) for run in roles["correct"] if run.seed in buggy]
