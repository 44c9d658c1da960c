"""Each half of the seed's claim judged on one run, and a seed's pair on both, as results/REPORT.md
and the map judge them (the thresholds are the plan's `claims:`, captcha_cnn.analysis.claims).
"""

from __future__ import annotations

from captcha_cnn.analysis.run_reading import RunReading


def correct_half(run: RunReading) -> bool | None:
    """At the claim's accuracy at its step, as results/REPORT.md judges it (None: stopped
    before, or no evaluation at that step)."""
    if run.accuracy_at_correct_step is None:
        return None
    return run.accuracy_at_correct_step >= run.claim.correct_accuracy


def buggy_half(run: RunReading) -> bool | None:
    """Below the stalled level over the claim's window, from its first to its last step (None:
    stopped at chance before the last). Strictly below, as results/REPORT.md judges "stalled"."""
    if run.best_from_buggy_start is not None and run.best_from_buggy_start >= run.stalled_level:
        return False
    if run.last_step < run.claim.buggy_to_step:
        return None
    return True


def both_halves(correct: RunReading, buggy: RunReading) -> str:
    """One seed's pair against the whole claim: "yes", "no", or "open (why)"."""
    halves = (correct_half(correct), buggy_half(buggy))
    if False in halves:
        return "no"
    if halves == (True, True):
        return "yes"
    missing = []
    if halves[0] is None:
        missing.append(f"correct stopped at {correct.last_step:,}" if correct.last_step
                       < correct.claim.correct_step
                       else f"correct not evaluated at {correct.claim.correct_step:,}")
    if halves[1] is None:
        missing.append(f"buggy stopped at {buggy.last_step:,}")
    return f"open ({'; '.join(missing)})"
