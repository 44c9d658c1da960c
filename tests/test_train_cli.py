"""train.py as a user runs it: end to end on the smoke config in its own process, and every error
path through the same `main(argv)` in this process (`run_main`, through the same run_cli)."""

import json

import numpy as np
import pytest
from helpers import SMOKE, SMOKE_ARGS, assert_one_line_error, run_command

import train


@pytest.mark.slow
def test_smoke_run_writes_a_complete_run_directory(tmp_path):
    """train.py end to end in its own process, exactly as a user starts it."""
    run = tmp_path / "run"
    result = run_command(*SMOKE, "--run-dir", str(run), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    for name in ("config.yaml", "environment.json", "metrics.jsonl", "model.keras",
                 "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert list((run / "checkpoints").glob("step-*.npz"))
    # Results are exact for one thread setting only, so the run records it.
    threads = json.loads((run / "environment.json").read_text())["threads"]
    assert set(threads) == {"cores", "intra_op", "inter_op"} and threads["cores"] >= 1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [0, 3, 6]
    for key in ("train_loss", "test_loss", "test_char_acc", "test_whole_acc", "elapsed_s"):
        assert all(key in row for row in rows)
    # Six steps of a tiny model: the loss is still at ln(10) and accuracy near chance.
    assert abs(rows[-1]["test_loss"] - np.log(10)) < 0.1
    assert 0.0 <= rows[-1]["test_char_acc"] <= 0.4
    # TensorBoard reads the same scalars back (TF 2 writes them as tensor events).
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for tag in ("train_loss", "test_loss", "test_char_acc", "test_whole_acc"):
        assert tag in events.Tags()["tensors"]
    assert [event.step for event in events.Tensors("test_char_acc")] == [0, 3, 6]
    assert "config" in events.Tags()["tensors"]  # The resolved config, as text.
    image_events = events.Tensors("held_out_predictions")  # TF 2 images are tensor events too.
    assert [event.step for event in image_events] == [0, 3, 6]
    stdout = result.stdout
    for derived in ("run directory:", "device:", "40 wide (4 x 10)", "parameters",
                    "6 x 16 images = 96 images"):
        assert derived in stdout


def test_an_existing_run_is_never_overwritten(smoke_run, run_main):
    before = (smoke_run["run"] / "metrics.jsonl").read_bytes()
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]),
                         "--data-dir", str(smoke_run["data"]))
    assert_one_line_error(result, str(smoke_run["run"]), "--resume")
    assert (smoke_run["run"] / "metrics.jsonl").read_bytes() == before


def test_resuming_a_finished_run_does_nothing(smoke_run, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]),
                         "--data-dir", str(smoke_run["data"]), "--resume")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout


def test_resuming_with_a_different_config_is_refused(smoke_run, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]), "--data-dir",
                         str(smoke_run["data"]), "--resume", "--set", "train.learning_rate=0.1")
    assert_one_line_error(result, "train.learning_rate is 0.0003 in the run but 0.1 now",
                          "--resume may change only train.steps, train.stop_at_whole_acc")


# The bad-input catalogue, through the real entry point: each entry fails in one line naming the
# source, the key and the value, and leaves no run directory and no cache entry behind.
BAD_SETTINGS = [
    ("train.stepz=3", ["train.stepz: unknown key"]),
    ("model.depth=3", ["model.depth: unknown key"]),
    ("train.steps=0", ["train.steps: must be at least 1, got 0"]),
    ("train.steps=-5", ["train.steps: must be at least 1, got -5"]),
    ("train.steps=ten", ["train.steps: expected an integer, got 'ten'"]),
    ("train.batch_size=0", ["train.batch_size: must be at least 1, got 0"]),
    ("train.eval_every=0", ["train.eval_every: must be at least 1, got 0"]),
    ("train.checkpoint_every=-1", ["train.checkpoint_every: must be at least 1"]),
    ("train.learning_rate=-0.1", ["train.learning_rate: must be positive, got -0.1"]),
    ("train.deterministic=maybe", ["train.deterministic: expected a boolean"]),
    ("seed=-1", ["seed: must be in [0, 2**32), got -1"]),
    ("train.precision=float8", ["train.precision: unknown value 'float8'", "mixed_bfloat16"]),
    ("loss.pitfall_check=loud", ["loss.pitfall_check: unknown value 'loud'"]),
    # 0 and '' mean "read it from the folder's labels": only a folder has labels to read.
    ("data.length=0", ["data.length: 0 infers it from a folder's labels", "data.source folder"]),
    ("data.charset=", ["data.charset: '' infers it from a folder's labels", "data.source folder"]),
    ("data.charset=0120", ["data.charset: '0120' repeats '0'"]),
    ("data.width=6", ["data.width: 6 is too small"]),
    ("data.height=4", ["data.height: 4 is too small"]),
    ("data.train_size=0", ["data.train_size: must be at least 1"]),
    ("model.name=resnet", ["model.name: unknown value 'resnet'", "allowed: classic"]),
    ("model.init=he", ["model.init: unknown value 'he'", "allowed: keras, tutorial"]),
    ("loss.name=softmax", ["loss.name: unknown value 'softmax'", "softmax_then_logits"]),
    ("loss.layout=rows", ["loss.layout: unknown value 'rows'", "flat_normalized"]),
    ("train.optimizer=rmsprop", ["train.optimizer: unknown value 'rmsprop'", "adam, sgd"]),
    ("train=5", ["train: expected a mapping"]),
    ("train.steps", ["expected KEY=VALUE"]),
]


@pytest.mark.parametrize("setting, fragments", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_bad_settings_fail_in_one_line_and_create_nothing(tmp_path, run_main, setting, fragments):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    result = run_main(train.main, "--config", "smoke.yaml", "--set", setting,
                         "--run-dir", str(run_dir), "--data-dir", str(data_dir))
    assert_one_line_error(result, *fragments)
    line = result.stderr.strip().splitlines()[-1]
    assert "smoke.yaml" in line or f"--set {setting}" in line  # Where the bad value came from.
    assert not run_dir.exists() and not data_dir.exists()


@pytest.mark.slow  # A fresh interpreter, though the error comes before TensorFlow loads.
@pytest.mark.parametrize("args, fragments", [
    (["--config", "nosuch.yaml"], ["nosuch.yaml: config file not found", "correct.yaml"]),
])
def test_bad_input_fails_in_one_line_and_creates_nothing(tmp_path, args, fragments):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    result = run_command("train.py", *args, "--run-dir", str(run_dir), "--data-dir", str(data_dir))
    assert_one_line_error(result, *fragments)
    assert not run_dir.exists() and not data_dir.exists()


def test_resuming_nothing_without_a_config_is_refused(tmp_path, run_main):
    result = run_main(train.main, "--run-dir", str(tmp_path / "none"), "--resume")
    assert_one_line_error(result, "none: no run to resume")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("text, fragments", [
    ("train:\n  steps: [1,\n", ["malformed YAML at line"]),
    ("- just\n- a list\n", ["a config must be a mapping", "not list"]),
    ("train:\n  optimizer:\n    name: adam\n", ["train.optimizer: expected a string"]),
    ("data:\n  charset: 0123\n", ["data.charset: expected a string", "quote it"]),
    ("seed: 1\ntrain:\n  extra:\n    deep: 1\n", ["train.extra: unknown key"]),
])
def test_bad_config_files_are_named(tmp_path, run_main, text, fragments):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_main(train.main, "--config", str(bad), "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(result, "bad.yaml", *fragments)
    assert not (tmp_path / "r").exists()


def test_a_folder_that_is_not_a_run_is_not_written_into(tmp_path, run_main):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(result, "is not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_a_diverging_run_stops_loudly(tmp_path, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--set", "train.optimizer=sgd", "--set",
                         "train.learning_rate=1e12", "--run-dir", str(tmp_path / "run"),
                         "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, "loss became", "train.learning_rate")
    assert not (tmp_path / "run" / "summary.json").exists()
