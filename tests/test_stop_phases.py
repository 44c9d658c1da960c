"""The stop signals work in every phase before training too: while TensorFlow loads, and while
the run is set up (its directory made, the data read, the model built and traced). Each is
found from outside by an event the process shows (TensorFlow's library mapped into it; the
run's config.yaml written), never a guessed sleep. Each ends with 128 + the signal, one line,
no traceback, no run that looks finished, and the same command then completes the run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, default_stop_signals

import train as train_script
from captcha_cnn.core.cli import run_cli

SMOKE = ["--config", "smoke.yaml", "--no-progress"]


def tensorflow_loading(process, run_dir: Path) -> bool:
    try:
        return "libtensorflow_framework" in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return False


def run_set_up(process, run_dir: Path) -> bool:
    return (run_dir / "config.yaml").is_file()


@pytest.fixture(scope="module")
def cached_data(tmp_path_factory):
    """A data folder the smoke run has filled, so the phases after it come at once."""
    root = tmp_path_factory.mktemp("stop-phases")
    assert run_cli(train_script.main, [*SMOKE, "--run-dir", str(root / "warm"),
                                       "--data-dir", str(root / "data")]) == 0
    return root / "data"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
@pytest.mark.parametrize("phase", [tensorflow_loading, run_set_up], ids=["loading", "set-up"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_before_the_first_step_ends_the_command_cleanly(cached_data, tmp_path, phase,
                                                               signum):
    run_dir = tmp_path / "run"
    command = [sys.executable, "train.py", *SMOKE, "--run-dir", str(run_dir),
               "--data-dir", str(cached_data)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=default_stop_signals, start_new_session=True)
    deadline = time.monotonic() + 120
    while not phase(process, run_dir):
        assert process.poll() is None, ("ended before the phase", process.communicate())
        assert time.monotonic() < deadline, "the phase never came"
        time.sleep(0.01)
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith(f"stopped by {signal.Signals(signum).name}"), stderr
    assert not (run_dir / "summary.json").exists() and not (run_dir / "model.keras").exists()
    # The smoke run trains in seconds: it cannot have stepped before the signal landed.
    assert not (run_dir / "metrics.jsonl").is_file() or \
        not (run_dir / "metrics.jsonl").read_text().strip()

    again = [*SMOKE, "--run-dir", str(run_dir), "--data-dir", str(cached_data)]
    if run_dir.exists():
        again.append("--resume")
    assert run_cli(train_script.main, again) == 0
    assert (run_dir / "summary.json").is_file()
