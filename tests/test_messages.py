"""Messages name the thing and the next step in one line, bounded in length: hostile YAML, a
full disk, a resume command with spaces, a folder or a damaged model where a file is read."""

import errno
import shlex
import shutil

import numpy as np
import pytest
from helpers import SMOKE_ARGS, assert_one_line_error
from PIL import Image

import evaluate
import train as train_script
from captcha_cnn.core import files
from captcha_cnn.core.cli import MAX_MESSAGE, bounded
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.resume import resume_command

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                 + [f"{new}: &{new} [{', '.join([f'*{old}'] * 9)}]"
                    for old, new in zip("abcdef", "bcdefg", strict=True)]
                 + ["data: {charset: *g}"]) + "\n"


def test_a_message_is_one_bounded_line():
    assert bounded("first\nsecond") == "first second"
    long = bounded("x" * (MAX_MESSAGE + 500))
    assert len(long) < MAX_MESSAGE + 60 and long.endswith("(500 more characters cut)")
    words = bounded("word " * 100, limit=52)
    assert words == "word " * 9 + "word... (451 more characters cut)"  # No word cut in two.


@pytest.mark.parametrize("text, fragment", [
    (BOMB, "expands to more than 100000 values"),
    ("data: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    ("data: " + "{a: " * 40 + "1" + "}" * 40 + "\n", "nested more than 32 levels deep"),
])
def test_hostile_yaml_is_refused_in_one_short_line(tmp_path, run_main, text, fragment):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    assert len(text) < 20_000  # A few hundred bytes for the bomb.
    result = run_main(train_script.main, "--config", str(path), "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(result, str(path), fragment)
    assert len(result.stderr) < 500


def test_a_deep_set_value_is_refused(run_main, tmp_path):
    result = run_main(train_script.main, *SMOKE_ARGS, "--run-dir", str(tmp_path / "r"),
                      "--set", "doctor.stop_on=" + "[" * 3000 + "]" * 3000)
    assert_one_line_error(result, "cannot read")


@pytest.mark.parametrize("data_dir", [None, "my data"])
def test_the_resume_command_survives_a_shell(tmp_path, data_dir):
    run = RunDir(tmp_path / "run with spaces' and quote")
    command = resume_command(run, data_dir and tmp_path / data_dir)
    expected = ["python", "train.py", "--run-dir", str(run.path), "--resume"]
    if data_dir:
        expected += ["--data-dir", str(tmp_path / data_dir)]
    assert shlex.split(command) == expected


def test_a_full_disk_names_the_file_written_not_its_temporary(tmp_path, monkeypatch):
    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as raised:
        files.write_atomically(tmp_path / "summary.json", b"{}")
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "summary.json")
    assert list(tmp_path.iterdir()) == []  # No temporary left behind.


@pytest.mark.slow  # Trains the smoke run until its first metrics row.
def test_a_full_disk_during_training_says_how_to_resume(smoke_config, shared_data_dir, tmp_path,
                                                        monkeypatch):
    from captcha_cnn.train.loop import train

    run = RunDir(tmp_path / "my run")

    def full(self, row):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.metrics))

    monkeypatch.setattr(RunDir, "append_metrics", full)
    with pytest.raises(UserError) as raised:
        train(smoke_config(), "run", run.path, data_dir=shared_data_dir, progress=False)
    message = str(raised.value)
    assert message.startswith(f"{run.metrics}: no space left on the device")
    assert message.endswith(f"continue with: python train.py --run-dir '{run.path}' --resume "
                            f"--data-dir {shared_data_dir}")


def test_a_folder_given_to_image_is_named(smoke_run, tmp_path, run_main):
    result = run_main(evaluate.main, str(smoke_run["run"]), "--image", str(tmp_path))
    assert_one_line_error(result, str(tmp_path), "a folder, not an image file")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "captcha.png"
    Image.fromarray(np.full((16, 48), 255, np.uint8)).save(path)
    return path


def test_a_damaged_model_file_is_one_line(smoke_run, tmp_path, run_main, image):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_run["run"], run.path)
    run.model.write_bytes(run.model.read_bytes()[:1000])
    result = run_main(evaluate.main, str(run.path), "--image", str(image))
    assert_one_line_error(result, str(run.model), "not a readable Keras model",
                          "delete it to read with the run's latest checkpoint")


def test_a_foreign_model_file_is_named(smoke_run, tmp_path, run_main, image):
    import keras

    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_run["run"], run.path)
    inputs = keras.Input((60, 160, 1))
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs))).save(run.model)
    result = run_main(evaluate.main, str(run.path), "--image", str(image))
    assert_one_line_error(result, str(run.model), "a model for inputs (None, 60, 160, 1) and "
                          "outputs (None, 3), not this run's (None, 16, 48, 1) -> (None, 40)")
