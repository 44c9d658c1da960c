"""When a run is done (why it stopped), and what its metrics sum up to in summary.json."""

from __future__ import annotations

STOP_REASONS = {"steps": "train.steps reached",
                "target": "train.stop_at_whole_acc reached",
                "time_limit": "train.max_minutes reached",
                "doctor": "a verdict in doctor.stop_on"}


def stop_reason(step: int, row: dict | None, elapsed_s: float, train: dict) -> str | None:
    """Why a run at this point is done (a key of STOP_REASONS), or None to go on. `row` is the
    evaluation at `step`, if there is one: the accuracy target is checked only there."""
    if step >= train["steps"]:
        return "steps"
    target = train["stop_at_whole_acc"]
    if target and row is not None and row["step"] == step and row["test_whole_acc"] >= target:
        return "target"
    if train["max_minutes"] and elapsed_s >= 60 * train["max_minutes"]:
        return "time_limit"
    return None


def summarize(rows: list[dict], elapsed_s: float, levels: dict, chance: dict) -> dict:
    """Final and best numbers of a run, with the reference levels they should be read against."""
    final = rows[-1]
    return {"steps": final["step"], "elapsed_s": round(elapsed_s, 2),
            "final": final,
            "best_test_char_acc": max(row["test_char_acc"] for row in rows),
            "best_test_whole_acc": max(row["test_whole_acc"] for row in rows),
            "min_test_loss": min(row["test_loss"] for row in rows),
            # Evaluation and logging's share of the run's time: each evaluation but the last
            # happened inside elapsed_s.
            "eval_share": round(sum(row["eval_s"] for row in rows)
                                / max(elapsed_s + final["eval_s"], 1e-9), 4),
            "loss_levels": levels, "chance_accuracy": chance}
