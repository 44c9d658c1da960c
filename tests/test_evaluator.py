"""What evaluation and logging cost a run, and what keeps that cost down: the evaluation's share
of the run is recorded, and the TensorBoard prediction grid is drawn only at checkpoints."""

import json

import pytest

from captcha_cnn.core.config import load_config
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.loop import train


@pytest.fixture(scope="module")
def run_every_step(tmp_path_factory, shared_data_dir):
    config, _ = load_config("smoke.yaml", ["train.steps=5", "train.eval_every=1",
                                           "train.checkpoint_every=3"])
    run = RunDir(tmp_path_factory.mktemp("eval_cost") / "run")
    summary = train(config, "eval_cost", run.path, data_dir=shared_data_dir, progress=False)
    return run, summary


def test_summary_records_the_share_of_time_spent_evaluating(run_every_step):
    run, summary = run_every_step
    rows = run.read_metrics()
    assert [row["step"] for row in rows] == [0, 1, 2, 3, 4, 5]
    assert all(row["eval_s"] > 0 for row in rows)
    # Every evaluation but the last one falls inside elapsed_s. The summary's elapsed_s is rounded
    # to 0.01 s and eval_share to 4 decimals: on a fast machine this run lasts about a second, so
    # the bounds come from the rounding, not from a fixed tolerance.
    evaluating, last = sum(row["eval_s"] for row in rows), rows[-1]["eval_s"]
    lowest = evaluating / (summary["elapsed_s"] + 0.005 + last) - 6e-5
    highest = evaluating / (summary["elapsed_s"] - 0.005 + last) + 6e-5
    assert lowest <= summary["eval_share"] <= highest
    assert 0 < summary["eval_share"] < 1
    assert json.loads(run.summary.read_text())["eval_share"] == summary["eval_share"]


def test_prediction_grid_is_drawn_only_at_checkpoints_and_the_end(run_every_step):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = run_every_step
    events = EventAccumulator(str(run.tensorboard))
    events.Reload()
    assert [event.step for event in events.Tensors("test_char_acc")] == [0, 1, 2, 3, 4, 5]
    assert [event.step for event in events.Tensors("eval_s")] == [0, 1, 2, 3, 4, 5]
    assert [event.step for event in events.Tensors("held_out_predictions")] == [0, 3, 5]


def test_repeated_evaluations_of_one_model_agree(run_every_step, smoke_config, shared_data_dir):
    """The evaluation batches are built once and cached: measuring twice gives the same numbers,
    and the same as a pipeline built afresh."""
    import keras

    from captcha_cnn.data import captchas
    from captcha_cnn.train.evaluator import Evaluator

    run, _ = run_every_step
    config = smoke_config()
    sets = [captchas.load_or_generate(captchas.DatasetSpec.from_config(config, split),
                                      shared_data_dir, progress=False)
            for split in ("train", "test")]
    model = keras.models.load_model(run.model)
    evaluator = Evaluator(model, config, RunDir(run.path.parent / "again"), *sets)
    first = evaluator.measure(evaluator._test_batches, len(sets[1][0]))
    assert evaluator.measure(evaluator._test_batches, len(sets[1][0])) == first
    fresh = Evaluator(model, config, RunDir(run.path.parent / "fresh"), *sets)
    assert fresh.measure(fresh._test_batches, len(sets[1][0])) == pytest.approx(first)
    assert first[0] == pytest.approx(run.read_metrics()[-1]["test_loss"], rel=1e-5)
