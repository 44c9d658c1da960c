"""Evaluation during training: held-out numbers, logged to metrics.jsonl and TensorBoard."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from captcha_cnn.config import dump
from captcha_cnn.data import evaluation_batches
from captcha_cnn.labels import LabelCodec
from captcha_cnn.plots import prediction_grid
from captcha_cnn.runlog import RunDir
from captcha_cnn.steps import make_eval_step

# Training accuracy without dropout is measured on this many fixed training images, so the
# curves show whether the held-out accuracy tracks the training accuracy (overfitting shows).
TRAIN_EVAL_SIZE = 500
# Held-out captchas shown with the model's reading in TensorBoard at each evaluation.
SHOWN_PREDICTIONS = 16


class Evaluator:
    """Evaluates the model on the held-out set (and a fixed slice of the training set) and logs
    one row per evaluation."""

    def __init__(self, model: keras.Model, config: dict, run: RunDir, train_set, test_set):
        self.model, self.config, self.run = model, config, run
        self.codec = LabelCodec.from_config(config)
        self.test_set = test_set
        size = min(TRAIN_EVAL_SIZE, len(train_set[0]))
        self.train_slice = (train_set[0][:size], train_set[1][:size])
        self.eval_step = make_eval_step(model, config["loss"]["name"], config["loss"]["layout"],
                                        config["data"]["length"])
        self.writer = tf.summary.create_file_writer(str(run.tensorboard))

    def log_config(self, step: int) -> None:
        with self.writer.as_default(step=step):
            tf.summary.text("config", "```\n" + dump(self.config) + "```")

    def measure(self, images: np.ndarray, indices: np.ndarray) -> tuple[float, float, float]:
        """Mean loss, per-character accuracy and whole-captcha accuracy over a set."""
        totals = np.zeros(3)
        for batch in evaluation_batches(images, indices, self.codec,
                                        self.config["train"]["eval_batch_size"]):
            totals += self.eval_step(*batch).numpy()
        count = len(images)
        return totals[0] / count, totals[1] / (count * self.codec.length), totals[2] / count

    def log(self, step: int, training_means: dict, elapsed_s: float) -> dict:
        """Evaluate, append the row to metrics.jsonl, write it to TensorBoard; return the row."""
        started = time.perf_counter()
        test_loss, test_char, test_whole = self.measure(*self.test_set)
        _, train_char, train_whole = self.measure(*self.train_slice)
        row = {"step": step, **training_means,
               "train_eval_char_acc": train_char, "train_eval_whole_acc": train_whole,
               "test_loss": test_loss, "test_char_acc": test_char, "test_whole_acc": test_whole,
               "elapsed_s": round(elapsed_s, 2),
               "eval_s": round(time.perf_counter() - started, 3)}
        self.run.append_metrics(row)
        with self.writer.as_default(step=step):
            for name, value in row.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            tf.summary.image("held_out_predictions", tf.image.decode_png(self.predictions_png())[None])
        self.writer.flush()
        return row

    def predictions_png(self) -> bytes:
        """A grid of the first held-out captchas with the model's reading and the truth."""
        images, indices = (array[:SHOWN_PREDICTIONS] for array in self.test_set)
        logits = self.model(images[..., None].astype(np.float32) / 255.0, training=False).numpy()
        predicted = [self.codec.indices_to_text(row) for row in self.codec.argmax_indices(logits)]
        true = [self.codec.indices_to_text(row) for row in indices]
        return prediction_grid(images, true, predicted)
