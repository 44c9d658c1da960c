"""Plain helpers shared by the test files (fixtures live in conftest.py). Test files import from
here, never from each other."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# train.py on the smoke config as a user types it, and the same arguments for `train.main(argv)`.
SMOKE = ["train.py", "--config", "smoke.yaml", "--no-progress"]
SMOKE_ARGS = SMOKE[1:]


def run_command(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `python <args>` from the repository as a user would; capture output."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The command failed as a user mistake should: exit status 2, no traceback, and exactly one
    `error:` line that contains every fragment."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def default_stop_signals():
    """In a child process (`preexec_fn`): the stop signals' default handling, whatever this test
    process inherited. A shell starts background jobs with SIGINT ignored and nohup ignores
    SIGHUP; the commands keep an ignored signal ignored (by design), which would turn tests
    that send one into no-ops or hangs."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
