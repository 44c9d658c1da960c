"""The doctor on this project's runs: verdicts from the rows of a run's metrics.jsonl.

Each evaluation row gives the held-out loss and per-character accuracy, the gradient norm of each
layer (the mean over the steps since the last evaluation: exactly 0 only if every one of those
steps gave 0) and, for runs that logged unit health, the share of each ReLU layer's units that
never fire on the held-out probe batch (`dead_<layer>`). Runs made before unit health was logged
are judged on their gradients alone.
"""

from __future__ import annotations

from pathlib import Path

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.doctor.verdict import Diagnosis, Levels, Observation, Verdict
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels
from captcha_cnn.model.signal_names import BIAS_MEAN, DEAD, GRADIENT, per_layer


def levels_of(config: dict) -> Levels:
    """The levels a run's held-out loss and per-character accuracy are read against."""
    levels, loss_name = config_loss_levels(config), config["loss"]["name"]
    # Sigmoid losses start above the loss of the best constant output: chance is the latter.
    return Levels(chance_loss=levels.get("constant", levels["chance"]),
                  chance_accuracy=config_chance_levels(config)["char"],
                  floor=levels["floor"],
                  probabilities_as_logits=loss_name in ("softmax_then_logits",
                                                        "sigmoid_then_logits"),
                  probabilities_kind="sigmoid" if loss_name.startswith("sigmoid") else "softmax")


def observation_of(row: dict) -> Observation:
    """One metrics row as the doctor sees it (a step-0 row may lack the training signals)."""
    return Observation(
        step=row["step"], loss=row["test_loss"], accuracy=row.get("test_char_acc"),
        dead=per_layer(row, DEAD), gradients=per_layer(row, GRADIENT),
        biases=per_layer(row, BIAS_MEAN))


def diagnose_rows(config: dict, rows: list[dict]) -> list[Verdict]:
    """A verdict for every row, in order."""
    diagnosis = Diagnosis(levels_of(config))
    for row in rows:
        diagnosis.add(observation_of(row))
    return diagnosis.history


def diagnose_run(path: Path) -> list[Verdict]:
    """The verdicts of the run in `path`; a one-line error if it is not a run or has no rows."""
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not a run directory (no config.yaml)")
    rows = run.read_metrics()
    if not rows:
        raise UserError(f"{run.metrics}: no evaluation rows yet: nothing to judge")
    return diagnose_rows(run.read_config(), rows)
