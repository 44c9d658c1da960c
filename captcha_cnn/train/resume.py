"""Whether a run directory may be started or continued with a given config: the resume policy.

A run is never overwritten (that needs --resume) and never resumed with a different config,
except for the keys that say when a run stops and where it trains.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import shlex
import sys
import types
from pathlib import Path

from captcha_cnn.core.config import DEFAULT_CONFIG
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.machine import package_versions
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.core.run_files import read_metric_rows
from captcha_cnn.core.yaml_files import read_yaml


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@functools.cache
def _flat_defaults() -> types.MappingProxyType:
    """configs/default.yaml, flattened; read once (a reproduction compares every published run)."""
    return types.MappingProxyType(_flatten(read_yaml(DEFAULT_CONFIG)))


# Keys a resumed run may change: more steps extend a run without changing what came before.
# When a run stops, where it trains (on another machine, or more devices) and how often the
# doctor looks (it only reads) may change when it resumes; what it trains may not.
RESUMABLE_CHANGES = ("train.steps", "train.stop_at_whole_acc", "train.max_minutes",
                     "train.distribute", "train.logical_cpus", "train.worker_wait_s",
                     "doctor.every", "doctor.stop_on")


def open_run_dir(run: RunDir, config: dict, resume: bool) -> bool:
    """Check the run directory before any slow work; return True if there is a run to continue.

    An existing run is never overwritten (that needs --resume) and never resumed with a different
    config. --resume on a directory that holds no run yet (a run killed while its data was being
    generated) simply starts it.
    """
    if not run.config.is_file():
        if run.path.exists() and any(not p.name.startswith(".") for p in run.path.iterdir()):
            raise UserError(f"{run.path} exists and is not a run directory (no config.yaml); "
                            f"pass another --run-dir")
        if resume:
            print(f"note: {run.path} holds no run yet; starting it")
        return False
    if not resume:
        raise UserError(f"{run.path} already holds a run: add --resume to continue it, "
                        f"or pass another --run-dir")
    run.check_files()  # Damage is found now, before data is generated or anything written.
    saved = run.read_config()
    difference = first_difference(saved, config, ignore=RESUMABLE_CHANGES)
    if difference is not None:
        key, before, now = difference
        raise UserError(f"{run.config}: {key} is {before!r} in the run but {now!r} now; "
                        f"--resume may change only {', '.join(RESUMABLE_CHANGES)}")
    _check_resumable_change(run, _flatten(saved), _flatten(config))
    return True


def first_difference(saved_config: dict, config: dict,
                     ignore=()) -> tuple[str, object, object] | None:
    """The first key (dotted) whose value in `config` differs from a run's saved config, as
    (key, saved value, value now); None if they agree on every key not in `ignore`."""
    saved = _flatten(saved_config)
    # A key the project gained after the run was made, left at its default, changes nothing.
    defaults = _flat_defaults()
    for key, value in _flatten(config).items():
        if key not in saved and value == defaults.get(key):
            continue
        if key not in ignore and saved.get(key) != value:
            return key, saved.get(key), value
    return None


def _check_resumable_change(run: RunDir, saved: dict, now: dict) -> None:
    """The resumable keys' exceptions: a cluster's workers each hold a copy of the run, so a run
    cannot move into or out of one; a cosine schedule's length is train.steps."""
    before = saved.get("train.distribute", "none")
    if before != now["train.distribute"] and "multi_worker" in (before, now["train.distribute"]):
        raise UserError(f"{run.config}: train.distribute is {before!r} in the run but "
                        f"{now['train.distribute']!r} now; a run cannot move into or out of "
                        f"multi_worker")
    if now["train.schedule"] == "cosine" and saved.get("train.steps") != now["train.steps"]:
        raise UserError(f"{run.config}: train.steps is {saved.get('train.steps')!r} in the run "
                        f"but {now['train.steps']!r} now; under train.schedule cosine the steps "
                        f"set the schedule, so they cannot change on --resume")


def refuse_lost_checkpoints(run: RunDir, config: dict) -> None:
    """Nothing finished is redone or emptied: a run that once wrote a checkpoint (it finished, or
    it has a metrics row after the step of its first checkpoint) and has no usable one left is
    refused, never trained again from step 0 over its metrics and summary. A run killed before
    its first checkpoint has only rows the same seed recomputes exactly, and starts again.

    Published copies (results/runs: config, metrics, summary only) fall under this rule too:
    nothing but the reproduction that published them writes there."""
    if run.load_latest_checkpoint(warn=False) is not None:
        return
    rows, _ = read_metric_rows(run.metrics)
    first_checkpoint = config["train"]["checkpoint_every"]
    if run.is_finished():
        left = f"a finished run (summary.json, {len(rows)} metric rows)"
    elif rows and rows[-1]["step"] > first_checkpoint:
        left = f"{len(rows)} metric rows through step {rows[-1]['step']}"
    elif run.checkpoint_paths():
        left = f"{len(rows)} metric rows"
    else:
        return
    checkpoints = (f"no readable checkpoint with finite weights ({len(run.checkpoint_paths())} "
                   f"damaged)" if run.checkpoint_paths() else "no checkpoint")
    again = shlex.join(["python", "train.py", "--config", str(run.config), "--run-dir", "NEW_DIR"])
    raise UserError(f"{run.path}: holds {left} but {checkpoints} in {run.checkpoints}; --resume "
                    f"would retrain it from step 0 over them, so nothing was changed. Restore a "
                    f"checkpoint there to continue it, or train it again elsewhere: {again}")


def check_versions(run: RunDir, allow_new_captcha: bool, now: dict | None = None) -> None:
    """Provenance on resume: libraries other than the last segment's are named in a warning (the
    new segment's versions are recorded in environment.json); another captcha release is
    refused unless asked for, since the cache is keyed by it and the rest of the run would
    train on newly drawn captchas."""
    environment = run.read_environment()
    segments = [environment.get("versions") or {}]
    segments += [entry["versions"] for entry in environment.get("resumed", [])
                 if isinstance(entry, dict) and isinstance(entry.get("versions"), dict)]
    last, now = segments[-1], package_versions() if now is None else now
    changed = {name: (last[name], now[name]) for name in last
               if name in now and last[name] != now[name]}
    if "captcha" in changed and not allow_new_captcha:
        before, after = changed["captcha"]
        raise UserError(f"{run.path}: trained on captcha {before} drawings, but captcha {after} "
                        f"is installed and would draw other captchas for the rest of the run; "
                        f"pip install 'captcha=={before}' to continue it as it was, or pass "
                        f"--allow-new-captcha to continue on the new drawing")
    if changed:
        names = ", ".join(f"{name} {before} -> {after}"
                          for name, (before, after) in changed.items())
        print(f"warning: {run.path}: resuming under other library versions ({names}); results "
              f"may differ from an uninterrupted run; each segment's versions are recorded in "
              f"{run.environment}", file=sys.stderr)


def resume_command(run: RunDir, data_dir: Path | None) -> str:
    """The command that continues the run, quoted for a POSIX shell (paths with spaces)."""
    data = ["--data-dir", str(data_dir)] if data_dir else []
    return shlex.join(["python", "train.py", "--run-dir", str(run.path), "--resume", *data])


@contextlib.contextmanager
def full_disk_says_how_to_resume(run: RunDir, data_dir: Path | None):
    """A full disk (or quota) while the run works: one line naming the file and the command
    that continues the run once there is space (every file is written atomically, so the last
    checkpoint and every complete row are intact)."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UserError(f"{error.filename or run.path}: no space left on the device; the last "
                        f"checkpoint and the rows before it are intact: free space there, then "
                        f"continue with: {resume_command(run, data_dir)}") from None
