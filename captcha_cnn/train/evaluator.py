"""Evaluation during training: held-out numbers, logged to metrics.jsonl and TensorBoard."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from captcha_cnn.core.config import dump
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.data.pipeline import evaluation_batches, to_model_inputs
from captcha_cnn.data.pixels import scale_gray
from captcha_cnn.model.unit_health import UnitProbe
from captcha_cnn.train.prediction_grid import prediction_grid
from captcha_cnn.train.steps import make_eval_step

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
        # Converted to model inputs once and kept in memory: rebuilding the input pipeline at
        # every evaluation cost time for nothing.
        batch_size = config["train"]["eval_batch_size"]
        self._test_batches = evaluation_batches(*test_set, self.codec, batch_size).cache()
        self._train_slice_size = min(TRAIN_EVAL_SIZE, len(train_set[0]))
        self._train_slice_batches = evaluation_batches(
            train_set[0][:self._train_slice_size], train_set[1][:self._train_slice_size],
            self.codec, batch_size).cache()
        # Dead units are counted on the first held-out batch: "dead" means silent for every one
        # of these images (docs/why-it-stalls.md).
        self._unit_probe = UnitProbe(model)
        # (Taken from the arrays: a partial pass over the cached dataset would truncate its cache.)
        self._probe_images, self._probe_labels = to_model_inputs(
            test_set[0][:batch_size], test_set[1][:batch_size], self.codec)
        self.eval_step = make_eval_step(model, config["loss"]["name"], config["loss"]["layout"],
                                        config["data"]["length"])
        self.writer = tf.summary.create_file_writer(str(run.tensorboard))

    def log_config(self, step: int) -> None:
        with self.writer.as_default(step=step):
            tf.summary.text("config", "```\n" + dump(self.config) + "```")

    def measure(self, batches: tf.data.Dataset, count: int) -> tuple[float, float, float]:
        """Mean loss, per-character accuracy and whole-captcha accuracy over `count` captchas."""
        totals = np.zeros(3)
        for batch in batches:
            totals += self.eval_step(*batch).numpy()
        return totals[0] / count, totals[1] / (count * self.codec.length), totals[2] / count

    def log(self, step: int, training_means: dict, elapsed_s: float,
            show_predictions: bool = True) -> dict:
        """Evaluate, append the row to metrics.jsonl, write it to TensorBoard; return the row.
        The TensorBoard grid of predictions is drawn only if `show_predictions` (at checkpoints:
        a picture every few hundred steps is plenty)."""
        started = time.perf_counter()
        test_loss, test_char, test_whole = self.measure(self._test_batches, len(self.test_set[0]))
        _, train_char, train_whole = self.measure(self._train_slice_batches,
                                                  self._train_slice_size)
        row = {"step": step, **training_means,
               "train_eval_char_acc": train_char, "train_eval_whole_acc": train_whole,
               "test_loss": test_loss, "test_char_acc": test_char, "test_whole_acc": test_whole,
               **self._unit_probe.measure(self._probe_images),
               "elapsed_s": round(elapsed_s, 2)}
        with self.writer.as_default(step=step):
            for name, value in row.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            if show_predictions:
                tf.summary.image("held_out_predictions",
                                 tf.image.decode_png(self.predictions_png())[None])
            # The whole cost of this evaluation and its logging, so that a run's summary can say
            # what share of its time went to them.
            row["eval_s"] = round(time.perf_counter() - started, 3)
            tf.summary.scalar("eval_s", row["eval_s"])
        self.writer.flush()
        self.run.append_metrics(row)
        return row

    def probe_row(self, step: int, training_signals: dict) -> dict:
        """A row like an evaluation's for the doctor's cheap look between evaluations: loss,
        per-character accuracy and unit health on the probe batch (the first held-out batch),
        with the last training step's signals. A fraction of an evaluation's cost; not logged."""
        loss_sum, correct_chars, _ = self.eval_step(self._probe_images, self._probe_labels).numpy()
        count = len(self._probe_images)
        return {"step": step, "test_loss": float(loss_sum) / count,
               "test_char_acc": float(correct_chars) / (count * self.codec.length),
               **training_signals, **self._unit_probe.measure(self._probe_images)}

    def predictions_png(self) -> bytes:
        """A grid of the first held-out captchas with the model's reading and the truth."""
        images, indices = (array[:SHOWN_PREDICTIONS] for array in self.test_set)
        logits = self.model(scale_gray(images[..., None].astype(np.float32)), training=False).numpy()
        predicted = [self.codec.indices_to_text(row) for row in self.codec.argmax_indices(logits)]
        true = [self.codec.indices_to_text(row) for row in indices]
        return prediction_grid(images, true, predicted)
