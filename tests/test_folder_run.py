"""A run on a folder of images drawn by data/make_folder.py, end to end: train.py, the saved
config, evaluate.py --image, resume, the export, the doctor and a reproduction plan."""

from __future__ import annotations

import numpy as np
import pytest

import evaluate
import train
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.data.make_folder import make_folder, make_one

FOLDER_SETTINGS = ("data.source=folder", "data.charset=", "data.length=0", "data.test_size=8")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """40 captchas of 3 letters from 'abc' drawn by make_folder, and a smoke run trained on them."""
    root = tmp_path_factory.mktemp("folder")
    images = root / "images"
    images.mkdir()
    for index in range(40):
        make_one((images, "abc", 3, 0, index))
    from captcha_cnn.core.cli import run_cli

    sets = [f"--set={setting}" for setting in (*FOLDER_SETTINGS, f"data.folder={images}")]
    args = ["--config", "smoke.yaml", *sets, "--no-progress", "--run-dir", str(root / "run"),
            "--data-dir", str(root / "cache")]
    assert run_cli(train.main, args) == 0
    return {"images": images, "run": root / "run", "args": args, "root": root}


@pytest.mark.slow
def test_the_run_saves_the_inferred_charset_and_length(folder_run):
    config = RunDir(folder_run["run"]).read_config()
    assert config["data"]["source"] == "folder"
    assert (config["data"]["charset"], config["data"]["length"]) == ("abc", 3)
    assert (folder_run["run"] / "export").is_dir()
    assert len(RunDir(folder_run["run"]).read_metrics()) >= 2


@pytest.mark.slow
def test_evaluate_reads_a_file_of_the_folder_at_its_own_size(folder_run, run_main):
    image = sorted(folder_run["images"].iterdir())[0]  # 180x64: resized to the run's 48x16.
    result = run_main(evaluate.main, str(folder_run["run"]), "--image", str(image))
    assert result.returncode == 0, result.stderr
    text = result.stdout.split()[0]
    assert len(text) == 3 and set(text) <= set("abc")


@pytest.mark.slow
def test_the_finished_run_resumes_from_its_saved_config(folder_run, run_main):
    result = run_main(train.main, "--run-dir", str(folder_run["run"]), "--resume",
                      "--data-dir", str(folder_run["root"] / "cache"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "already finished 6 steps" in result.stdout


@pytest.mark.slow
def test_the_export_reads_the_folder_files(folder_run):
    import tensorflow as tf

    reader = tf.saved_model.load(str(folder_run["run"] / "export"))
    png = sorted(p for p in folder_run["images"].iterdir() if p.suffix == ".png")[0]
    result = reader.serve(tf.constant([png.read_bytes()]))
    text = result["text"].numpy()[0].decode()
    assert len(text) == 3 and set(text) <= set("abc")
    assert np.asarray(result["probabilities"]).shape == (1, 3)


@pytest.mark.slow
def test_the_doctor_reads_the_folder_run(folder_run, run_main):
    from captcha_cnn.doctor.__main__ import main as doctor_main

    result = run_main(doctor_main, str(folder_run["run"]))
    assert result.returncode == 0, result.stderr
    assert str(folder_run["run"]) in result.stdout


@pytest.mark.slow
def test_a_reproduction_plan_trains_a_pair_on_the_folder(folder_run, run_main, tmp_path):
    from captcha_cnn.experiments import reproduce

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "pairs:\n  pillow: [smoke.yaml, smoke_buggy.yaml]\nseeds: [0]\nset:\n"
        + "  data.source: folder\n  data.charset: ''\n  data.length: 0\n  data.test_size: 8\n"
        + f"  data.folder: '{folder_run['images']}'\n  train.steps: 4\n  train.eval_every: 2\n"
        "notes: ['test']\nclaims: reproduce.yaml\nreport: reproduce.yaml\n")
    result = run_main(reproduce.main, str(plan), "--runs", str(tmp_path / "runs"), "--out",
                      str(tmp_path / "out"), "--data-dir", str(folder_run["root"] / "cache"),
                      "--no-progress")
    assert result.returncode == 0, result.stderr
    saved = RunDir(tmp_path / "out" / "runs" / "pillow_buggy-seed0").read_config()
    assert (saved["data"]["charset"], saved["data"]["length"]) == ("abc", 3)
    assert "## pillow" in (tmp_path / "out" / "REPORT.md").read_text()


def test_make_folder_names_files_by_their_text_and_never_writes_into_a_full_folder(tmp_path):
    name = make_one((tmp_path, "xy", 5, 3, 10))  # Index 10: a JPEG (one in ten).
    assert name.endswith("_00010.jpg") and len(name.split("_")[0]) == 5
    assert make_one((tmp_path, "xy", 5, 3, 10)) == name  # A pure function of (seed, index).
    with pytest.raises(UserError, match="exists and is not an empty folder"):
        make_folder(tmp_path, 2, "xy", 5, 3, workers=1)


@pytest.mark.parametrize("name, model, loss", [
    ("folder.yaml", "classic", "logits"), ("folder_buggy.yaml", "classic", "softmax_then_logits"),
    ("folder_fast.yaml", "fast", "logits")])
def test_the_folder_configs_infer_charset_and_length(name, model, loss):
    config, _ = load_config(name, ["data.folder=somewhere"])
    data = config["data"]
    assert (data["source"], data["charset"], data["length"], data["test_fraction"]) == \
        ("folder", "", 0, 0.1)
    assert (config["model"]["name"], config["loss"]["name"]) == (model, loss)
