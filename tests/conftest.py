"""Shared fixtures: tiny configs and a private data folder, so tests never touch data/ or runs/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def smoke_config():
    """The smoke config as a dict, with optional `--set` style overrides."""
    from captcha_cnn.config import load_config

    def make(*overrides: str) -> dict:
        return load_config("smoke.yaml", list(overrides))[0]

    return make


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory) -> Path:
    """One cache folder for the whole session: tiny sets are generated once and reused."""
    return tmp_path_factory.mktemp("data")


def run_command(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `python <args>` from the repository as a user would; capture output."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
