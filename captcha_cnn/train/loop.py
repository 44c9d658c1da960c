"""The training loop: build, restore, then step / evaluate / log / checkpoint until done."""

from __future__ import annotations

import itertools
import json
import math
import signal
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from captcha_cnn.core.config import REPO_ROOT, dump
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import check_folder_argument, write_atomically
from captcha_cnn.core.machine import describe_cpu, package_versions
from captcha_cnn.core.names import checked_name
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.core.signals import StopRequest
from captcha_cnn.data import captchas
from captcha_cnn.data.labels import LabelCodec
from captcha_cnn.data.pipeline import evaluation_batches, training_batches
from captcha_cnn.data.sources import load_sets
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels
from captcha_cnn.model.losses import LOSSES, arrange
from captcha_cnn.model.networks import build_model
from captcha_cnn.model.pitfall import check_loss_inputs
from captcha_cnn.train.announce import announce
from captcha_cnn.train.checkpoint import TrainingState
from captcha_cnn.train.devices import (
    Placement,
    describe_device,
    make_placement,
    thread_settings,
    worker_index,
)
from captcha_cnn.train.evaluator import Evaluator
from captcha_cnn.train.export import export_saved_model
from captcha_cnn.train.live_doctor import DOCTOR_STOP, LiveDoctor
from captcha_cnn.train.optimizers import make_optimizer
from captcha_cnn.train.resume import (
    check_versions,
    full_disk_says_how_to_resume,
    open_run_dir,
    refuse_lost_checkpoints,
    resume_command,
)
from captcha_cnn.train.session import Session, compiled_step, measure_step
from captcha_cnn.train.steps import signal_names
from captcha_cnn.train.stopping import STOP_REASONS, stop_reason, summarize

REPO_RUNS = REPO_ROOT / "runs"


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


def train(config: dict, experiment: str, run_dir: Path | None = None, resume: bool = False,
          data_dir: Path | None = None, progress: bool = True,
          allow_new_captcha: bool = False) -> dict:
    """Train one run as the config says; return the run's summary (its final numbers).
    `allow_new_captcha`: resume even under another captcha release (other training data)."""
    called = time.perf_counter()
    run, experiment = locate_run(config, experiment, run_dir)
    check_folder_argument(run.path, "--run-dir")  # Both before the slow work, not after it.
    check_folder_argument(data_dir or captchas.DEFAULT_DATA_DIR, "--data-dir")
    with run.locked():  # One process per run directory; a second one changes nothing.
        # Fails fast, before any slow work, on a directory that must not be touched.
        resume = open_run_dir(run, config, resume)
        done = finished_summary(run, config) if resume else None
        if done is not None:
            return done
        if resume:
            refuse_lost_checkpoints(run, config)
            check_versions(run, allow_new_captcha)
        # Devices first: they must be set before TensorFlow starts, and a bad one fails fast.
        placement = make_placement(config["train"])
        with full_disk_says_how_to_resume(run, data_dir):
            train_set, test_set = load_data(config, data_dir, progress)
            session = build(config, run, experiment, placement, train_set, test_set)
            rows = restore_or_start(session, resume)
            announce(session)
            setup_s = time.perf_counter() - called  # Loading and building: not in elapsed_s.
            reason = run_loop(session, rows, data_dir, progress)
            return finish(session, reason, setup_s)


def locate_run(config: dict, experiment: str, run_dir: Path | None) -> tuple[RunDir, str]:
    """The run directory and the run's name (each worker of a cluster gets its own)."""
    if run_dir is None:  # A name taken from a config file's name becomes a folder of runs/.
        checked_name(experiment, f"{experiment!r} cannot be used as a run name under "
                                 f"{REPO_RUNS} (pass --run-dir)")
    worker = worker_index(config["train"])
    if worker:  # Each worker of a cluster keeps its own copy of the run, even on a shared disk.
        experiment = f"{experiment}-worker{worker}"
        if run_dir is not None:
            run_dir = Path(run_dir).with_name(f"{Path(run_dir).name}-worker{worker}")
    return RunDir(run_dir or REPO_RUNS / experiment), experiment


def finished_summary(run: RunDir, config: dict) -> dict | None:
    """The summary of a finished run that the current settings still call done, else None."""
    if not run.is_finished():
        return None
    summary = run.read_summary()
    stopped_by_doctor = (summary.get("stop_reason") == "doctor"
                         and summary.get("doctor_verdict") in config["doctor"]["stop_on"])
    if stopped_by_doctor or stop_reason(summary["steps"], summary["final"], summary["elapsed_s"],
                                        config["train"]):
        print(f"{run.path} already finished {summary['steps']} steps; nothing to do.")
        return summary
    return None


def load_data(config: dict, data_dir: Path | None, progress: bool) -> tuple[tuple, tuple]:
    """Training and held-out sets, from the config's data source (generated or a folder's)."""
    return load_sets(config, data_dir, progress)


def build(config: dict, run: RunDir, experiment: str, placement: Placement, train_set,
          test_set) -> Session:
    """Model and optimizer, seeded; then a look at what the loss op will receive, before anything
    is written, so a run the pitfall check stops leaves nothing behind."""
    train_cfg = config["train"]
    keras.utils.set_random_seed(config["seed"])
    if train_cfg["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(train_cfg["precision"])
    with placement.strategy.scope():  # Variables mirrored on every replica when distributed.
        model = build_model(config)
        optimizer = make_optimizer(train_cfg)
        optimizer.build(model.trainable_variables)
    batch = train_cfg["batch_size"]
    check_first_batch(model, config, *next(iter(evaluation_batches(
        train_set[0][:batch], train_set[1][:batch], LabelCodec.from_config(config), batch))))
    return Session(config, run, experiment, placement, model, optimizer,
                   TrainingState(model, optimizer, signal_names(model)), train_set, test_set,
                   describe_device(placement))


def restore_or_start(session: Session, resume: bool) -> list[dict]:
    """Restore the newest checkpoint, or start the run directory; return the metric rows kept."""
    run, state, train_cfg = session.run, session.state, session.train_cfg
    here = {"device": session.device, "cpu": describe_cpu(), "threads": thread_settings()}
    if resume and run.checkpoint_paths():
        # Everything is read and checked before the first write: damage changes nothing.
        environment = run.read_environment()
        state.restore(run)
        if state.step > train_cfg["steps"]:
            raise UserError(f"{run.path} is already at step {state.step}: train.steps "
                            f"{train_cfg['steps']} would end it before that")
        run.remove_stale_temporaries()
        rows = run.keep_metrics_through(state.step)
        print(f"resuming {run.path} from step {state.step} ({len(rows)} metric rows kept)")
        # Each segment's own versions: a resume under other libraries is on the record.
        environment.setdefault("resumed", []).append({"step": state.step, **here,
                                                      "versions": package_versions()})
    else:
        if resume:  # A run stopped before its first checkpoint: the same seed redoes the same.
            print(f"note: {run.path} has no checkpoint yet; starting it again from step 0")
        rows = []
        run.path.mkdir(parents=True, exist_ok=True)
        write_atomically(run.metrics, b"")
        environment = {**here, "versions": package_versions(), "experiment": session.experiment}
    write_atomically(run.config, dump(session.config).encode("utf-8"))  # A raised train.steps.
    run.write_json(run.environment, environment)
    run.summary.unlink(missing_ok=True)
    return rows


def run_loop(session: Session, rows: list[dict], data_dir: Path | None, progress: bool) -> str:
    """Step, evaluate, checkpoint until a stop rule says done; return its reason. A stop signal
    ends the process after a checkpoint, with the command that continues the run."""
    config, run, state, train_cfg = session.config, session.run, session.state, session.train_cfg
    train_step = compiled_step(session)
    session.evaluator = Evaluator(session.model, config, run, session.train_set, session.test_set)
    session.evaluator.log_config(state.step)
    batches = iter(session.placement.distribute_batches(training_batches(
        *session.train_set, LabelCodec.from_config(config), train_cfg["batch_size"],
        config["seed"], start_step=state.step)))
    doctor = LiveDoctor(session, rows)
    bar = tqdm(total=train_cfg["steps"], initial=state.step, desc=session.experiment, unit="step",
               disable=not progress, file=sys.stdout, dynamic_ncols=True,
               mininterval=1 if sys.stdout.isatty() else 30)
    started = time.perf_counter() - state.elapsed_s

    # A resumed run may already be done: killed after its last step, or given a new stop rule.
    reason = stop_reason(state.step, rows[-1] if rows else None, state.elapsed_s, train_cfg)
    with StopRequest() as stop, bar:
        if state.step == 0 and not rows and reason is None:
            # Step 0: the initial state's row, so every curve and unit count starts there.
            batch = next(batches)
            state.accumulate(measure_step(session)(*batch))
            reason = doctor.judge_row(evaluate_now(session, bar, final=False), bar)
            batches = itertools.chain([batch], batches)
            if reason is not None:  # Stopped by the doctor before the first step.
                state.save(run)
        while reason is None:
            signals = take_step(train_step, next(batches), state, run)
            bar.update(1)
            state.elapsed_s = time.perf_counter() - started
            reason = stop_reason(state.step, None, state.elapsed_s, train_cfg)
            if state.step % train_cfg["eval_every"] == 0 or reason is not None:
                row = evaluate_now(session, bar, final=reason is not None)
                verdict_says = doctor.judge_row(row, bar)
                reason = stop_reason(state.step, row, state.elapsed_s, train_cfg) or verdict_says
            elif doctor.every and state.step % doctor.every == 0:
                reason = doctor.look(state.step, signals, bar)
            # Checkpoint, and stop cleanly after a stop signal.
            if state.step % train_cfg["checkpoint_every"] == 0 or reason is not None \
                    or stop.requested:
                state.elapsed_s = time.perf_counter() - started
                state.save(run)
            if stop.requested:
                bar.close()
                exit_after_signal(run, state.step, stop.signum, data_dir)
    return reason


def take_step(train_step, batch, state: TrainingState, run: RunDir) -> dict:
    """One training step, its signals added to the running means and returned. A non-finite loss
    or gradient norm stops the run before the step counts (the update it made is never
    checkpointed), with the last finite checkpoint kept; the checkpoint writer refuses non-finite
    weights as well."""
    signals = {name: float(value) for name, value in train_step(*batch).items()}
    diverged = [name for name, value in signals.items() if not math.isfinite(value)]
    if diverged:
        name = "train_loss" if "train_loss" in diverged else diverged[0]
        raise UserError(f"{name} became {signals[name]} at step {state.step + 1}: training "
                        f"diverged (try a smaller train.learning_rate). {run.resume_point()}")
    state.step += 1
    state.accumulate(signals)
    return signals


def evaluate_now(session: Session, bar: tqdm, final: bool) -> dict:
    """Evaluate on the held-out set, log to metrics.jsonl and TensorBoard, show it on the bar."""
    state, train_cfg = session.state, session.train_cfg
    # The prediction grid only where a checkpoint is written: it is for looking at.
    row = session.evaluator.log(state.step, state.running_means(), state.elapsed_s,
                                show_predictions=state.step % train_cfg["checkpoint_every"] == 0
                                or final)
    state.reset_running()
    bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_char=f"{row['test_char_acc']:.3f}",
                    test_whole=f"{row['test_whole_acc']:.3f}")
    return row


def exit_after_signal(run: RunDir, step: int, signum: int, data_dir: Path | None) -> None:
    """After a stop signal's checkpoint: say how to continue, exit with 128 + the signal."""
    print(f"\nstopped at step {step} by {signal.Signals(signum).name}; "
          f"checkpoint saved. Continue with:\n  {resume_command(run, data_dir)}", file=sys.stderr)
    raise SystemExit(128 + signum)


def finish(session: Session, reason: str, setup_s: float) -> dict:
    """The finished run: the final model, its servable export, and the summary that marks it
    done."""
    config, run, state, model = session.config, session.run, session.state, session.model
    rows = run.read_metrics()
    if not rows or rows[-1]["step"] != state.step:  # Killed between its last checkpoint and row.
        rows.append(session.evaluator.log(state.step, state.running_means(), state.elapsed_s))
    temporary = run.path / ".model.tmp.keras"
    model.save(temporary)
    temporary.replace(run.model)
    export_saved_model(model, config, run.export)
    summary = summarize(rows, state.elapsed_s, config_loss_levels(config),
                        config_chance_levels(config))
    summary["stop_reason"] = reason
    if reason == "doctor":
        summary["doctor_verdict"] = json.loads((run.path / DOCTOR_STOP).read_text())["kind"]
    summary["setup_s"] = round(setup_s, 2)  # Of this (last) session of the run.
    run.write_json(run.summary, summary)
    final = rows[-1]
    print(f"finished {state.step} steps ({STOP_REASONS[summary['stop_reason']]}) in "
          f"{state.elapsed_s / 60:.1f} min, {summary['eval_share']:.1%} of it evaluating and "
          f"logging: test per-char accuracy "
          f"{final['test_char_acc']:.3f}, whole {final['test_whole_acc']:.3f}, "
          f"loss {final['test_loss']:.3f}. Metrics in {run.metrics}")
    return summary
