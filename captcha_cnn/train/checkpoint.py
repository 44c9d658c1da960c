"""What a checkpoint holds, so that a resumed run is indistinguishable from one that never stopped."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir


def assign_checked(variables: dict, arrays: dict[str, np.ndarray], source) -> None:
    """Assign stored arrays to variables by name, refusing a missing name or a wrong shape."""
    for name, variable in variables.items():
        if name not in arrays:
            raise UserError(f"{source}: checkpoint has no {name}; it was made by another model")
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise UserError(f"{source}: {name} has shape {arrays[name].shape}, "
                            f"the model expects {tuple(variable.shape)}")
        variable.assign(arrays[name])


def model_variables(model: keras.Model) -> dict:
    """The model's variables under the names checkpoints store them by."""
    return {f"model/{i}": v for i, v in enumerate(model.variables)}


class TrainingState:
    """Every model and optimizer variable (the dropout seed generators are model variables), the
    step, the elapsed time, and the running sums of the training signals of the evaluation
    interval in progress."""

    def __init__(self, model: keras.Model, optimizer, signal_names: list[str]):
        self.model, self.optimizer, self.signal_names = model, optimizer, signal_names
        self.step, self.elapsed_s = 0, 0.0
        self.reset_running()

    def reset_running(self):
        self.sums, self.count = np.zeros(len(self.signal_names)), 0

    def accumulate(self, signals: dict[str, float]):
        self.sums += [signals[name] for name in self.signal_names]
        self.count += 1

    def running_means(self) -> dict[str, float | None]:
        """Means since the last evaluation; None when no step was taken since (nothing to average)."""
        if self.count == 0:
            return dict.fromkeys(self.signal_names)
        return {name: float(value) for name, value in
                zip(self.signal_names, self.sums / self.count, strict=True)}

    def _variables(self) -> dict[str, tf.Variable]:
        named = model_variables(self.model)
        named.update({f"optimizer/{i}": v for i, v in enumerate(self.optimizer.variables)})
        return named

    def save(self, run: RunDir):
        arrays = {name: np.asarray(v.numpy()) for name, v in self._variables().items()}
        arrays["progress"] = np.array([self.step, self.elapsed_s, self.count], dtype=np.float64)
        arrays["running_sums"] = self.sums
        run.save_checkpoint(self.step, arrays)

    def restore(self, run: RunDir):
        loaded = run.load_latest_checkpoint()
        if loaded is None:
            raise UserError(f"{run.checkpoints}: no readable checkpoint with finite weights to "
                            f"resume from; start a new run with another --run-dir")
        _, arrays = loaded
        variables = self._variables()
        if set(arrays) != set(variables) | {"progress", "running_sums"} \
                or arrays["progress"].shape != (3,) \
                or arrays["running_sums"].shape != (len(self.signal_names),):
            raise UserError(f"{run.checkpoints}: checkpoint does not match the model in "
                            f"{run.config}")
        assign_checked(variables, arrays, run.checkpoints)
        step, self.elapsed_s, count = arrays["progress"].tolist()
        self.step, self.count = int(step), int(count)
        self.sums = arrays["running_sums"].astype(np.float64)
