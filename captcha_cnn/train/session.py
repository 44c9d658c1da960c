"""What one training session works with: the parts that `loop.train` builds, in one object
that the loop's phases and the start-up announcement share."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.checkpoint import TrainingState
from captcha_cnn.train.devices import Placement
from captcha_cnn.train.evaluator import Evaluator
from captcha_cnn.train.steps import make_train_step


@dataclass
class Session:
    """What one training session works with, built by the phases of `train`."""

    config: dict
    run: RunDir
    experiment: str
    placement: Placement
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    state: TrainingState
    train_set: tuple
    test_set: tuple
    device: str
    evaluator: Evaluator | None = None  # Made by run_loop.

    @property
    def train_cfg(self) -> dict:
        return self.config["train"]


def compiled_step(session: Session, update: bool = True):
    """The compiled training step for this run's model, optimizer, loss and placement (with
    `update=False`: the same signals, measured without changing anything)."""
    loss_cfg = session.config["loss"]
    return make_train_step(session.model, session.optimizer, loss_cfg["name"], loss_cfg["layout"],
                           session.config["data"]["length"], session.placement.strategy,
                           loss_cfg["prior_pull"], update=update)


def measure_step(session: Session):
    """The training signals of a batch at the current weights, as floats, with no update."""
    step = compiled_step(session, update=False)
    return lambda images, labels: {name: float(value)
                                   for name, value in step(images, labels).items()}
