"""Runs survive SIGKILL, Ctrl-C and damaged checkpoints, and resume exactly."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_command

from captcha_cnn.errors import UserError
from captcha_cnn.runlog import RunDir
from captcha_cnn.training import train

TIMING = ("elapsed_s", "eval_s")
LONG_SMOKE = ["--set", "train.steps=200", "--set", "train.eval_every=10",
              "--set", "train.checkpoint_every=20"]


def metrics(path):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in RunDir(path).read_metrics()]


def start_training(run_dir, data_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "train.py", "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
         "--run-dir", str(run_dir), "--data-dir", str(data_dir), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(run_dir, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not list((run_dir / "checkpoints").glob("step-*.npz")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 200-step run that interrupted runs must end up equal to."""
    root = tmp_path_factory.mktemp("reference")
    result = run_command("train.py", "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
                         "--run-dir", str(root / "run"), "--data-dir", str(root / "data"))
    assert result.returncode == 0, result.stderr
    return {"metrics": metrics(root / "run"), "data": root / "data"}


def test_sigkill_then_resume_matches_an_uninterrupted_run(reference, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, reference["data"])
    wait_for_checkpoint(run_dir, process)
    time.sleep(random.uniform(0.0, 0.5))  # Anywhere: in a step, an evaluation or a write.
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "summary.json").exists(), "the run finished before it could be killed"

    result = run_command("train.py", "--run-dir", str(run_dir), "--resume", "--no-progress",
                         "--data-dir", str(reference["data"]))
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    resumed = metrics(run_dir)
    assert [row["step"] for row in resumed] == list(range(10, 201, 10))  # No gap, no double.
    assert resumed == reference["metrics"]
    assert not list(run_dir.rglob(".*.tmp*"))


def test_ctrl_c_checkpoints_and_says_how_to_resume(reference, tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, reference["data"])
    wait_for_checkpoint(run_dir, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"python train.py --run-dir {run_dir} --resume" in stderr
    stopped_at = int(stderr.split("stopped at step ")[1].split(";")[0])
    assert (run_dir / "checkpoints" / f"step-{stopped_at:08d}.npz").is_file()

    result = run_command("train.py", "--run-dir", str(run_dir), "--resume", "--no-progress",
                         "--data-dir", str(reference["data"]))
    assert result.returncode == 0, result.stderr
    assert metrics(run_dir) == reference["metrics"]


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(smoke_config, shared_data_dir,
                                                             tmp_path, capsys):
    train(smoke_config("train.steps=9"), "full", tmp_path / "full", data_dir=shared_data_dir,
          progress=False)
    run = RunDir(tmp_path / "part")
    train(smoke_config("train.steps=6"), "part", run.path, data_dir=shared_data_dir,
          progress=False)
    newest = run.checkpoint_paths()[-1]
    newest.write_bytes(newest.read_bytes()[:500])  # Truncated, as by a full disk.
    train(smoke_config("train.steps=9"), "part", run.path, resume=True, data_dir=shared_data_dir,
          progress=False)
    assert "step-00000006.npz is unreadable" in capsys.readouterr().err
    assert metrics(run.path) == metrics(tmp_path / "full")


def test_no_readable_checkpoint_stops_instead_of_starting_over(smoke_config, shared_data_dir,
                                                               tmp_path):
    run = RunDir(tmp_path / "run")
    train(smoke_config("train.steps=6"), "run", run.path, data_dir=shared_data_dir,
          progress=False)
    before = run.metrics.read_bytes()
    for path in run.checkpoint_paths():
        path.write_bytes(b"garbage")
    with pytest.raises(UserError, match="no readable checkpoint"):
        train(smoke_config("train.steps=9"), "run", run.path, resume=True,
              data_dir=shared_data_dir, progress=False)
    assert run.metrics.read_bytes() == before


def test_resume_of_a_run_killed_before_it_began_starts_it(smoke_config, shared_data_dir, tmp_path):
    summary = train(smoke_config(), "run", tmp_path / "never", resume=True,
                    data_dir=shared_data_dir, progress=False)
    assert summary["steps"] == 6


def test_a_torn_last_metrics_line_is_dropped_on_resume(smoke_config, shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(smoke_config("train.steps=6"), "run", run.path, data_dir=shared_data_dir,
          progress=False)
    with open(run.metrics, "a") as handle:
        handle.write('{"step": 9, "train_lo')  # A crash in mid-append.
    assert [row["step"] for row in run.read_metrics()] == [3, 6]
    train(smoke_config("train.steps=9"), "run", run.path, resume=True, data_dir=shared_data_dir,
          progress=False)
    assert [row["step"] for row in run.read_metrics()] == [3, 6, 9]


def test_a_run_name_cannot_escape_the_runs_folder(smoke_config):
    with pytest.raises(UserError, match="cannot be used as a run name"):
        train(smoke_config(), "../outside", progress=False)
    assert os.path.isdir(REPO / "runs")


def test_resume_refuses_fewer_steps_than_already_trained(smoke_config, shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(smoke_config("train.steps=6"), "run", run.path, data_dir=shared_data_dir,
          progress=False)
    (run.path / "summary.json").unlink()  # As if killed after its last checkpoint.
    with pytest.raises(UserError, match="already at step 6: train.steps 3"):
        train(smoke_config("train.steps=3"), "run", run.path, resume=True,
              data_dir=shared_data_dir, progress=False)


def test_an_extension_is_recorded_in_the_run_config(smoke_config, shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(smoke_config("train.steps=3"), "run", run.path, data_dir=shared_data_dir,
          progress=False)
    (run.export.parent / ".export.tmp").mkdir()  # A folder left by a kill during the export.
    train(smoke_config("train.steps=6"), "run", run.path, resume=True, data_dir=shared_data_dir,
          progress=False)
    assert "steps: 6" in run.config.read_text()
    assert not (run.path / ".export.tmp").exists()


@pytest.mark.parametrize("moment", [0.5, 3.0, 6.0])
def test_sigkill_at_any_moment_then_resume_finishes_the_same_run(reference, tmp_path, moment):
    """Killed during start-up, data generation (a fresh data folder) or training: --resume on
    the same command always ends with the uninterrupted run's metrics."""
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    process = start_training(run_dir, data_dir)
    time.sleep(moment)
    process.send_signal(signal.SIGKILL)
    process.wait()
    result = run_command("train.py", "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
                         "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--resume")
    assert result.returncode == 0, result.stderr
    assert metrics(run_dir) == reference["metrics"]
