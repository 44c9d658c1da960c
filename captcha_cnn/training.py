"""The training loop: build, restore, then step / evaluate / log / checkpoint until done."""

from __future__ import annotations

import json
import math
import re
import signal
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from captcha_cnn import captchas
from captcha_cnn.config import dump
from captcha_cnn.data import evaluation_batches, training_batches
from captcha_cnn.diagnostics import check_loss_inputs
from captcha_cnn.errors import UserError
from captcha_cnn.export import export_saved_model
from captcha_cnn.labels import LabelCodec
from captcha_cnn.losses import LOSSES, arrange, loss_levels
from captcha_cnn.metrics import chance_levels
from captcha_cnn.model import build_model
from captcha_cnn.plots import prediction_grid
from captcha_cnn.runlog import RunDir, cpu_name, open_run_dir, package_versions, write_atomically
from captcha_cnn.state import TrainingState
from captcha_cnn.steps import make_eval_step, make_train_step, signal_names

REPO_RUNS = Path(__file__).resolve().parent.parent / "runs"
# A run name taken from a config file's name becomes a folder of runs/ and must stay inside it.
SAFE_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Training accuracy without dropout is measured on this many fixed training images, so the
# curves show whether the held-out accuracy tracks the training accuracy (overfitting shows).
TRAIN_EVAL_SIZE = 500


def make_optimizer(train: dict) -> keras.optimizers.Optimizer:
    if train["optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(train["learning_rate"])
    else:
        optimizer = keras.optimizers.SGD(train["learning_rate"], momentum=train["momentum"])
    if train["precision"] == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def check_first_batch(model: keras.Model, config: dict, images, labels) -> None:
    """Run the pitfall detector once on what the loss op will receive as labels and logits."""
    loss_cfg, length = config["loss"], config["data"]["length"]
    loss = LOSSES[loss_cfg["name"]]
    arranged_labels, arranged_outputs = arrange(loss_cfg["layout"], labels,
                                                model(images, training=False), length)
    try:
        check_loss_inputs(loss, arranged_labels.numpy(),
                          loss.logits_argument(arranged_outputs).numpy(),
                          loss_cfg["pitfall_check"])
    except ValueError as error:
        raise UserError(f"loss.pitfall_check is 'error': {error}") from None


def predictions_png(model: keras.Model, codec: LabelCodec, images: np.ndarray,
                    indices: np.ndarray, count: int = 16) -> bytes:
    """A grid of the first held-out captchas with the model's reading and the truth."""
    shown = images[:count]
    logits = model(shown[..., None].astype(np.float32) / 255.0, training=False).numpy()
    predicted = [codec.indices_to_text(row) for row in codec.argmax_indices(logits)]
    true = [codec.indices_to_text(row) for row in indices[:count]]
    return prediction_grid(shown, true, predicted)


def configure_devices() -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start, so that
    several runs (or TensorBoard) can share a GPU. Must run before a GPU is first used."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # Already initialised in this process (a second train() call).
            pass


def describe_device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus]
        return f"GPU ({', '.join(names)})"
    return f"CPU ({cpu_name()})"


class _StopRequest:
    """Turns Ctrl-C into a flag the loop checks between steps, so a step is never cut in half."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # A second Ctrl-C stops at once.
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def train(config: dict, experiment: str, run_dir: Path | None = None, resume: bool = False,
          data_dir: Path | None = None, progress: bool = True) -> dict:
    """Train one run as the config says; return the run's summary (its final numbers)."""
    data, model_cfg, loss_cfg, train_cfg = (config[k] for k in ("data", "model", "loss", "train"))
    if run_dir is None and not SAFE_RUN_NAME.fullmatch(experiment):
        raise UserError(f"{experiment!r}: cannot be used as a run name under {REPO_RUNS}; "
                        f"pass --run-dir")
    run = RunDir(run_dir or REPO_RUNS / experiment)
    data_dir = data_dir or captchas.DEFAULT_DATA_DIR
    # Fails fast, before any slow work, on a directory that must not be touched.
    resume = open_run_dir(run, config, resume)
    if resume and run.is_finished():
        summary = json.loads(run.summary.read_text())
        if summary["steps"] >= train_cfg["steps"]:
            print(f"{run.path} already finished {summary['steps']} steps; nothing to do.")
            return summary

    # Data: generated once per spec and cached under data/, so the buggy run reuses the correct one's.
    train_images, train_indices = captchas.load_or_generate(
        captchas.DatasetSpec.from_config(config, "train"), data_dir, progress)
    test_images, test_indices = captchas.load_or_generate(
        captchas.DatasetSpec.from_config(config, "test"), data_dir, progress)
    codec = LabelCodec.from_config(config)

    # Model and optimizer, seeded.
    configure_devices()
    keras.utils.set_random_seed(config["seed"])
    if train_cfg["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(train_cfg["precision"])
    model = build_model(config)
    optimizer = make_optimizer(train_cfg)
    optimizer.build(model.trainable_variables)
    state = TrainingState(model, optimizer, signal_names(model))

    # Restore, or start the run directory.
    if resume and run.checkpoint_paths():
        run.remove_stale_temporaries()
        state.restore(run)
        rows = run.keep_metrics_through(state.step)
        print(f"resuming {run.path} from step {state.step} ({len(rows)} metric rows kept)")
    else:
        run.path.mkdir(parents=True, exist_ok=True)
        write_atomically(run.config, dump(config).encode("utf-8"))
        write_atomically(run.metrics, b"")
    run.summary.unlink(missing_ok=True)
    device = describe_device()
    run.write_json(run.environment, {"device": device, "versions": package_versions(),
                                     "experiment": experiment})

    levels = loss_levels(loss_cfg["name"], loss_cfg["layout"], data["length"], codec.num_classes)
    chance = chance_levels(data["length"], codec.num_classes)
    steps, batch_size = train_cfg["steps"], train_cfg["batch_size"]
    print(f"run directory:  {run.path}\n"
          f"device:         {device}, TensorFlow {tf.__version__}\n"
          f"data:           {len(train_images)} train / {len(test_images)} test captchas of "
          f"{data['length']} from {data['charset']!r}, {data['width']}x{data['height']} gray\n"
          f"labels:         {codec.width} wide ({data['length']} x {codec.num_classes}); "
          f"loss {loss_cfg['name']} ({loss_cfg['layout']}): chance {levels['chance']:.3f}, "
          f"floor {levels['floor']:.3f}\n"
          f"model:          {model_cfg['name']}, {model.count_params():,} parameters; "
          f"{train_cfg['optimizer']} lr {train_cfg['learning_rate']:g}\n"
          f"steps:          {steps} x {batch_size} images = {steps * batch_size:,} images "
          f"({steps * batch_size / len(train_images):.1f} epochs); chance accuracy "
          f"{chance['char']:.3f} per char, {chance['whole']:.2g} whole", flush=True)

    # Compiled steps, and a look at what the loss op receives, before the first update.
    train_step = make_train_step(model, optimizer, loss_cfg["name"], loss_cfg["layout"],
                                 data["length"])
    eval_step = make_eval_step(model, loss_cfg["name"], loss_cfg["layout"], data["length"])
    check_first_batch(model, config, *next(iter(
        evaluation_batches(train_images[:batch_size], train_indices[:batch_size], codec,
                           batch_size))))

    def evaluate(images, indices):
        totals = np.zeros(3)
        for batch in evaluation_batches(images, indices, codec, train_cfg["eval_batch_size"]):
            totals += eval_step(*batch).numpy()
        return totals[0] / len(images), totals[1] / (len(images) * data["length"]), \
            totals[2] / len(images)

    train_eval_size = min(TRAIN_EVAL_SIZE, len(train_images))
    batches = iter(training_batches(train_images, train_indices, codec, batch_size,
                                    config["seed"], start_step=state.step))
    writer = tf.summary.create_file_writer(str(run.tensorboard))
    with writer.as_default(step=state.step):
        tf.summary.text("config", "```\n" + dump(config) + "```")
    bar = tqdm(total=steps, initial=state.step, desc=experiment, unit="step", disable=not progress,
               file=sys.stdout, dynamic_ncols=True, mininterval=1 if sys.stdout.isatty() else 30)
    started = time.perf_counter() - state.elapsed_s
    last_row = run.read_metrics()[-1] if run.read_metrics() else None

    with _StopRequest() as stop, bar:
        while state.step < steps:
            # One training step.
            signals = train_step(*next(batches)).numpy().astype(np.float64)
            loss = signals[0]
            if not math.isfinite(loss):
                raise UserError(f"loss became {loss} at step {state.step + 1}: training diverged "
                                f"(try a smaller train.learning_rate); the last good checkpoint "
                                f"in {run.checkpoints} is kept")
            state.step += 1
            state.accumulate(signals)
            bar.update(1)

            # Evaluation on the held-out set, logged to metrics.jsonl and TensorBoard.
            if state.step % train_cfg["eval_every"] == 0 or state.step == steps:
                eval_started = time.perf_counter()
                test_loss, test_char, test_whole = evaluate(test_images, test_indices)
                _, train_eval_char, train_eval_whole = evaluate(
                    train_images[:train_eval_size], train_indices[:train_eval_size])
                eval_seconds = time.perf_counter() - eval_started
                state.elapsed_s = time.perf_counter() - started
                last_row = {"step": state.step, **state.running_means(),
                            "train_eval_char_acc": train_eval_char,
                            "train_eval_whole_acc": train_eval_whole,
                            "test_loss": test_loss, "test_char_acc": test_char,
                            "test_whole_acc": test_whole, "elapsed_s": round(state.elapsed_s, 2),
                            "eval_s": round(eval_seconds, 3)}
                run.append_metrics(last_row)
                with writer.as_default(step=state.step):
                    for name, value in last_row.items():
                        if name != "step":
                            tf.summary.scalar(name, value)
                    tf.summary.image("held_out_predictions", tf.image.decode_png(
                        predictions_png(model, codec, test_images, test_indices))[None])
                writer.flush()
                state.reset_running()
                bar.set_postfix(loss=f"{last_row['train_loss']:.3f}",
                                test_char=f"{test_char:.3f}", test_whole=f"{test_whole:.3f}")

            # Checkpoint, and stop cleanly after Ctrl-C.
            if state.step % train_cfg["checkpoint_every"] == 0 or state.step == steps \
                    or stop.requested:
                state.elapsed_s = time.perf_counter() - started
                state.save(run)
            if stop.requested:
                bar.close()
                print(f"\nstopped at step {state.step}; checkpoint saved. Continue with:\n"
                      f"  python train.py --run-dir {run.path} --resume",
                      file=sys.stderr)
                raise SystemExit(130)

    # The finished run: the final model and the summary that marks it done.
    temporary = run.path / ".model.tmp.keras"
    model.save(temporary)
    temporary.replace(run.model)
    export_saved_model(model, config, run.export)
    summary = summarize(run.read_metrics(), state.elapsed_s, levels, chance)
    run.write_json(run.summary, summary)
    print(f"finished {steps} steps in {state.elapsed_s / 60:.1f} min: test per-char accuracy "
          f"{last_row['test_char_acc']:.3f}, whole {last_row['test_whole_acc']:.3f}, "
          f"loss {last_row['test_loss']:.3f}. Metrics in {run.metrics}")
    return summary


def summarize(rows: list[dict], elapsed_s: float, levels: dict, chance: dict) -> dict:
    """Final and best numbers of a run, with the reference levels they should be read against."""
    final = rows[-1]
    return {"steps": final["step"], "elapsed_s": round(elapsed_s, 2),
            "final": final,
            "best_test_char_acc": max(row["test_char_acc"] for row in rows),
            "best_test_whole_acc": max(row["test_whole_acc"] for row in rows),
            "min_test_loss": min(row["test_loss"] for row in rows),
            "loss_levels": levels, "chance_accuracy": chance}
