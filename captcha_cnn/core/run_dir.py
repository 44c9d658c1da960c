"""The run directory: everything needed to understand, resume or compare a run later.

    config.yaml        the resolved config (defaults < experiment < --set)
    environment.json   library versions, device, machine
    metrics.jsonl      one JSON object per evaluation, in step order
    tensorboard/       the same scalars as TensorBoard event files
    checkpoints/       step-NNNNNNNN.npz: model and optimizer variables (the last two are kept)
    model.keras        the final model (written when training finishes)
    export/            the final model as a SavedModel that reads PNG bytes (captcha_cnn.train.export)
    summary.json       final numbers; its presence marks a finished run
    .lock              held (flock) by the process training in the directory, with its pid

Every file is written through a temporary file and a rename, so a crash leaves either the old
complete file or the new one, never a torn file. Checkpoints are plain arrays in an .npz read
with `allow_pickle=False`. One process at a time trains in a run directory: the lock is the
operating system's (flock), so it ends with its process and a SIGKILL never leaves it stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

from captcha_cnn.core.config import load_defaults, merge
from captcha_cnn.core.config_rules import validate
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.files import open_regular_file, write_atomically
from captcha_cnn.core.run_files import (
    DamagedRunFile,
    NonFiniteState,
    array_problem,
    is_integer,
    is_number,
    read_json_object,
    read_metric_rows,
)
from captcha_cnn.core.yaml_files import read_yaml

KEEP_CHECKPOINTS = 2
LOCK_FILE = ".lock"


# What every run has saved since the first one; a section added to the defaults later (doctor)
# may be missing from an older run, and reads as its defaults.
RUN_CONFIG_SECTIONS = ("seed", "data", "model", "loss", "train")


class RunLocked(UserError):
    """Another process is training in this run directory."""


class RunDir:
    """Paths and file operations of one run directory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.environment = self.path / "environment.json"
        self.metrics = self.path / "metrics.jsonl"
        self.tensorboard = self.path / "tensorboard"
        self.checkpoints = self.path / "checkpoints"
        self.model = self.path / "model.keras"
        self.export = self.path / "export"
        self.summary = self.path / "summary.json"

    # One process at a time -------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self):
        """Hold the run directory's lock while the block runs; raise RunLocked, having changed
        nothing, if another process holds it. Where the block made no run (a folder that is not
        a run, a failure before the first write), the lock file and a directory this call
        created are removed again."""
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        lock_path = self.path / LOCK_FILE
        handle = open(lock_path, "a+", encoding="utf-8")  # Never truncated before it is held.
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunLocked(f"{self.path} is in use: process {holder} is training in it; "
                            f"wait for it to end (or stop it), or pass another --run-dir") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            if not self.config.is_file():  # No run was made here: leave no trace.
                lock_path.unlink(missing_ok=True)
                if created and not any(self.path.iterdir()):
                    self.path.rmdir()
            handle.close()  # Closing releases the lock.

    # Config ----------------------------------------------------------------------------------

    def read_config(self) -> dict:
        """The run's resolved config (config.yaml), over the defaults: a key the project gained
        after the run was made reads as its default (a whole section, such as doctor, too). A
        file that is not UTF-8 YAML, not a mapping, lacks one of RUN_CONFIG_SECTIONS, or holds
        an unknown key or a wrong type is a one-line error."""
        saved = read_yaml(self.config, "run config")
        defaults = load_defaults()
        missing = [section for section in RUN_CONFIG_SECTIONS if section not in saved]
        if missing:
            raise DamagedRunFile(f"{self.config}: damaged run config: no {', '.join(missing)} "
                                 f"(a run saves its whole config); restore the file from a copy")
        config = merge(defaults, saved, str(self.config))
        try:  # Range-checked as a new config is: a charset '' would fail later, in arithmetic.
            validate(config, str(self.config))
        except ConfigError as error:
            raise DamagedRunFile(f"{error}; a run's saved config must be one train.py accepts: "
                                 f"restore the file from a copy") from None
        return config

    # Metrics ---------------------------------------------------------------------------------

    def read_metrics(self) -> list[dict]:
        """Every row, checked. A torn last line (a crash in mid-append) is left out with a
        warning; a damaged line with rows after it, or a line that is JSON but not a row, is a
        DamagedRunFile error naming the line: nothing is ever skipped silently."""
        rows, torn = read_metric_rows(self.metrics)
        if torn is not None:
            print(f"warning: {self.metrics}: line {torn} is torn (a write cut short); it is "
                  f"left out (--resume drops it)", file=sys.stderr)
        return rows

    def append_metrics(self, row: dict) -> None:
        """Append one row as one write of one line, flushed to disk."""
        with open(self.metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def keep_metrics_through(self, step: int) -> list[dict]:
        """Drop rows after `step` (logged after the checkpoint we resume from; they are
        recomputed) and a torn last line. A damaged line anywhere else is an error, and the
        file is then left as it is."""
        rows, torn = read_metric_rows(self.metrics)
        if torn is not None:
            print(f"warning: {self.metrics}: dropping line {torn}, torn (a write cut short)",
                  file=sys.stderr)
        rows = [row for row in rows if row["step"] <= step]
        text = "".join(json.dumps(row) + "\n" for row in rows)
        write_atomically(self.metrics, text.encode("utf-8"))
        return rows

    # Checkpoints ----------------------------------------------------------------------------

    def checkpoint_paths(self) -> list[Path]:
        """Checkpoints, oldest first."""
        return sorted(self.checkpoints.glob("step-*.npz"))

    def save_checkpoint(self, step: int, arrays: dict[str, np.ndarray]) -> Path:
        """Write the checkpoint of `step`, keeping the newest KEEP_CHECKPOINTS. Arrays that are
        not all finite (a diverged run) are never written: NonFiniteState says which and what is
        kept instead, so every checkpoint on disk is one a run can continue from."""
        problem = array_problem(arrays)
        if problem is not None:
            raise NonFiniteState(f"{problem} at step {step}: training diverged (try a smaller "
                                 f"train.learning_rate); not saved. {self.resume_point()}")
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path = self.checkpoints / f"step-{step:08d}.npz"
        write_atomically(path, buffer.getvalue())
        for old in self.checkpoint_paths()[:-KEEP_CHECKPOINTS]:
            old.unlink()
        return path

    def load_latest_checkpoint(self, warn: bool = True) -> tuple[int, dict[str, np.ndarray]] | None:
        """The newest good checkpoint as (step, arrays): readable, and every array finite. A
        damaged or non-finite newest one falls back to the one before it, with a warning. None
        when there is no good checkpoint. `warn=False` only asks whether there is one."""
        for path in reversed(self.checkpoint_paths()):
            try:
                # Only a regular file: a FIFO would wait for a writer forever.
                with os.fdopen(open_regular_file(path, "a checkpoint"), "rb") as handle, \
                        np.load(handle, allow_pickle=False) as stored:
                    arrays = {name: stored[name] for name in stored.files}
                step = int(path.stem.split("-")[1])
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                    UserError) as error:
                if warn:
                    print(f"warning: checkpoint {path} is unreadable ({error}); trying an older "
                          f"one", file=sys.stderr)
                continue
            problem = array_problem(arrays)
            if problem is None:
                return step, arrays
            if warn:
                print(f"warning: checkpoint {path} holds {problem} (written by a run that "
                      f"diverged); trying an older one", file=sys.stderr)
        return None

    def resume_point(self) -> str:
        """What --resume would start from, in one sentence (for the divergence message)."""
        paths = self.checkpoint_paths()
        if not paths:
            return ("There is no checkpoint yet: --resume would start again from step 0; start "
                    "a new --run-dir with a smaller learning rate instead")
        return f"The last finite checkpoint, {paths[-1]}, is kept; --resume starts from it"

    # Environment, summary --------------------------------------------------------------------

    def write_json(self, path: Path, content: dict) -> None:
        write_atomically(path, (json.dumps(content, indent=2) + "\n").encode("utf-8"))

    def read_environment(self) -> dict:
        """environment.json (an empty mapping if there is none), checked: a damaged one is a
        one-line error, never a traceback after other files were rewritten."""
        if not self.environment.is_file():
            return {}
        what_to_do = "restore it, or delete it to go on without that record of the machine"
        environment = read_json_object(self.environment, what_to_do)
        for key, kind in (("device", str), ("versions", dict), ("cpu", dict),
                          ("resumed", list), ("threads", dict)):
            if key in environment and not isinstance(environment[key], kind):
                raise DamagedRunFile(f"{self.environment}: damaged: {key} is "
                                     f"{environment[key]!r}, not a {kind.__name__}; {what_to_do}")
        return environment

    def read_summary(self) -> dict:
        """summary.json of a finished run, checked (it marks the run finished)."""
        what_to_do = "delete it and run train.py --resume to finish the run again"
        summary = read_json_object(self.summary, what_to_do)
        final = summary.get("final")
        if not (is_integer(summary.get("steps")) and is_number(summary.get("elapsed_s"))
                and isinstance(final, dict) and is_integer(final.get("step"))):
            raise DamagedRunFile(f"{self.summary}: damaged: no integer steps, number elapsed_s "
                                 f"and final row; {what_to_do}")
        return summary

    def check_files(self) -> None:
        """Read every small file of the run (config, metrics, environment, summary) and raise
        the first damage found: called before a resume changes anything."""
        self.read_config()
        read_metric_rows(self.metrics)
        self.read_environment()
        if self.is_finished():
            self.read_summary()

    def is_finished(self) -> bool:
        return self.summary.is_file()

    def remove_stale_temporaries(self) -> None:
        """Temporary files left by a process killed in mid-write; their targets are intact."""
        for temporary in list(self.path.rglob(".*.tmp*")):
            if temporary.is_dir():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                temporary.unlink(missing_ok=True)


# The small files of a run worth publishing beside figures; never checkpoints or models.
PUBLISHED_FILES = ("config.yaml", "metrics.jsonl", "environment.json", "summary.json")


def publish_run_files(run_path: Path, target: Path) -> None:
    """Copy a run's small files (config, metrics, environment, summary) into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED_FILES:
        if (Path(run_path) / name).is_file():
            shutil.copyfile(Path(run_path) / name, target / name)
