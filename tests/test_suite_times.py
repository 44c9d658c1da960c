"""The suite-times page (captcha_cnn.perf.suite_times): pytest's closing line read into counts, wall
times as m:ss, and a failing suite refused rather than timed."""

from __future__ import annotations

import subprocess

import pytest

from captcha_cnn.core.errors import UserError
from captcha_cnn.perf import suite_times


def test_minutes_round_to_whole_seconds():
    assert suite_times.minutes(247.3) == "4:07"
    assert suite_times.minutes(59.6) == "1:00"
    assert suite_times.minutes(5) == "0:05"


def _pytest_says(monkeypatch, closing: str, returncode: int):
    def fake_run(command, **kwargs):
        return subprocess.CompletedProcess(command, returncode, stdout=f"....\n{closing}\n",
                                           stderr="")
    monkeypatch.setattr(suite_times.subprocess, "run", fake_run)


def test_the_closing_line_gives_the_counts(monkeypatch):
    _pytest_says(monkeypatch, "413 passed, 1 skipped, 36 deselected in 62.48s (0:01:02)", 0)
    timing = suite_times.time_suite(["-m", "not slow"])
    assert timing["counts"] == {"passed": 413, "skipped": 1, "deselected": 36}
    page = suite_times.page({name: timing for name, _, _ in suite_times.SUITES})
    assert '| the fast inner loop | `python -m pytest -m "not slow"` | 413 passed, 1 skipped, ' \
           '36 deselected |' in page


def test_a_failing_suite_is_not_timed(monkeypatch):
    _pytest_says(monkeypatch, "2 failed, 411 passed in 60.00s", 1)
    with pytest.raises(UserError, match="did not pass"):
        suite_times.time_suite([])
