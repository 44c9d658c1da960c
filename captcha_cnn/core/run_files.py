"""Checking what a run directory's files hold, on every read: a damaged file is a one-line
error naming the file, the damage and what to do, raised before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from captcha_cnn.core.errors import UserError


class DamagedRunFile(UserError):
    """A file of a run directory is damaged; the message names the file, the damage and the fix."""


class NonFiniteState(UserError):
    """The weights or the optimizer state are no longer finite: the run diverged."""


# What every metrics row holds: evaluate.py, the plans and the resume read these.
REQUIRED_METRICS = ("step", "test_loss", "test_char_acc", "test_whole_acc", "elapsed_s")
# A metrics row is a few hundred bytes; a line past this is damage, not a row.
MAX_LINE_BYTES = 1 << 20
# A run writes a row per evaluation: a million steps evaluated every 200 is 5,000 rows, a
# published run 60 at most. Past this many a file is not a run's metrics (or a run evaluated
# too often to be read whole); it is refused before its rows (2.0 KB each in memory, measured
# on a published run's 554-byte rows: 200 MB at most) fill the memory.
MAX_METRIC_ROWS = 100_000


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def row_problem(row, previous_step: int | None) -> str | None:
    """What makes a parsed metrics line not a row (None if it is one): an object with an
    integer step after the previous row's, every required number, and numbers (or null, for a
    training mean with no step behind it) as its only values."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    step = row.get("step")
    if not is_integer(step) or step < 0:
        return f"step is {step!r}, not a step number"
    if previous_step is not None and step <= previous_step:
        return f"step {step} does not come after step {previous_step}"
    missing = [key for key in REQUIRED_METRICS if not is_number(row.get(key))]
    if missing:
        return f"no number for {', '.join(missing)}"
    wrong = [key for key, value in row.items() if value is not None and not is_number(value)]
    if wrong:
        return f"{wrong[0]} is {row[wrong[0]]!r}, not a number"
    return None


def _numbered_lines(path: Path):
    """(number, bytes, is_last) of each non-blank line, read one line at a time: a file of any
    size is never held whole. A line longer than MAX_LINE_BYTES is read no further."""
    with open(path, "rb") as handle:
        pending, number = None, 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise DamagedRunFile(f"{path}: line {number} is damaged: longer than "
                                     f"{MAX_LINE_BYTES} bytes, not a metrics row; nothing was "
                                     f"changed: repair or delete that line, then run again")
            if raw.strip():
                if pending is not None:
                    yield (*pending, False)
                pending = (number, raw)
        if pending is not None:
            yield (*pending, True)


def read_metric_rows(path: Path) -> tuple[list[dict], int | None]:
    """The rows of a metrics.jsonl, and the number of its last line if that line is torn (not
    JSON: a crash in mid-append; the caller says what it does with it), else None. Any other
    damaged line raises DamagedRunFile naming it: a reader that stopped there would hide every
    valid row after it, and a resume would delete them. Read line by line."""
    if not Path(path).is_file():
        return [], None
    rows: list[dict] = []
    lines = _numbered_lines(path)
    for number, raw, is_last in lines:
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if is_last:
                return rows, number
            problem = f"not JSON ({error.__class__.__name__})"
        else:
            problem = row_problem(row, rows[-1]["step"] if rows else None)
            if problem is None and len(rows) == MAX_METRIC_ROWS:
                problem = (f"more than {MAX_METRIC_ROWS:,} rows (a run writes one per "
                           f"evaluation), more than a run's metrics are read whole")
            if problem is None:
                rows.append(row)
                continue
        later = 0 if is_last else sum(1 for _ in lines)
        after = (f", and {later} more line{'s follow' if later > 1 else ' follows'} it"
                 if later else "")
        raise DamagedRunFile(f"{path}: line {number} is damaged: {problem}{after}; nothing was "
                             f"changed: repair or delete that line, then run again")
    return rows, None


def array_problem(arrays: dict[str, np.ndarray]) -> str | None:
    """The first array of a checkpoint that is not numbers or not finite, described; None if
    every one is finite numbers."""
    for name, array in arrays.items():
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            return f"{name} of type {array.dtype} (not numbers)"
        if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            return f"non-finite values in {name} ({bad} of {array.size})"
    return None


def read_json_object(path: Path, what_to_do: str) -> dict:
    """A JSON file holding one object; damage is a DamagedRunFile naming the file and the fix."""
    try:
        content = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedRunFile(f"{path}: damaged (not JSON: {error.__class__.__name__}); "
                             f"{what_to_do}") from None
    if not isinstance(content, dict):
        raise DamagedRunFile(f"{path}: damaged (a JSON {type(content).__name__}, not an "
                             f"object); {what_to_do}")
    return content
