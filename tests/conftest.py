"""Shared fixtures: tiny configs and a private data folder, so tests never touch data/ or runs/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import SMOKE_ARGS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def smoke_config():
    """The smoke config as a dict, with optional `--set` style overrides."""
    from captcha_cnn.core.config import load_config

    def make(*overrides: str) -> dict:
        return load_config("smoke.yaml", list(overrides))[0]

    return make


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory) -> Path:
    """One cache folder for the whole session: tiny sets are generated once and reused."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def run_main(capsys):
    """Run an entry point's `main(argv)` in this process, exactly as its `__main__` does (through
    run_cli: one-line errors, exit status), and capture what it prints. Much faster than a
    subprocess; kept for the paths where the process boundary is not the point."""
    from captcha_cnn.core.cli import run_cli

    def run(main, *argv: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = run_cli(main, list(argv))
        except SystemExit as exit_:  # argparse's usage errors.
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(argv), code, out, err)

    return run


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> dict:
    """One finished smoke run (with its SavedModel export) for the tests that read a run or
    resume it. Trained once per worker through train.py's `main` in this process: those tests
    need a finished run, not a process boundary; test_train_cli starts the real command."""
    import train
    from captcha_cnn.core.cli import run_cli

    root = tmp_path_factory.mktemp("smoke")
    data_dir, run_dir = root / "data", root / "run"
    code = run_cli(train.main, [*SMOKE_ARGS, "--run-dir", str(run_dir), "--data-dir", str(data_dir)])
    assert code == 0
    return {"run": run_dir, "data": data_dir}


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits (1,797 8x8 images that ship inside the package), for the doctor's
    tests on data no one here made: images in [0, 1], one-hot labels and integer labels."""
    import keras
    import numpy as np

    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    images = (data.images / 16.0).astype(np.float32)
    return images, keras.utils.to_categorical(data.target, 10).astype(np.float32), data.target
