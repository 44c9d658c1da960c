"""Runs survive SIGKILL, stop signals (Ctrl-C, SIGTERM, SIGHUP), a second process and damaged
checkpoints, and resume exactly. Processes are killed on an event they show (worker processes,
a metrics row, a checkpoint file), never after a guessed sleep. Only the interrupted runs are
processes of their own (the signal or the kill is the point); the reference run and the resumes
run in this one, through train.py's main."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, default_stop_signals

import train as train_script
from captcha_cnn.core.cli import run_cli
from captcha_cnn.core.errors import StopSignal, UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.experiments.plans import PlannedRun, train_runs
from captcha_cnn.train.loop import train

TIMING = ("elapsed_s", "eval_s")
LONG_SMOKE = ["--set", "train.steps=100", "--set", "train.eval_every=10",
              "--set", "train.checkpoint_every=20"]


def metrics(path):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in RunDir(path).read_metrics()]


def start_training(run_dir, data_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "train.py", "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
         "--run-dir", str(run_dir), "--data-dir", str(data_dir), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_stop_signals, start_new_session=True)  # Its own group, as in a shell.


def wait_until(condition, process, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, (f"ended before {what}", process.communicate())
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def children(pid):
    """Process ids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # Ended while we looked.
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_for_checkpoint(run_dir, process):
    wait_until(lambda: list((run_dir / "checkpoints").glob("step-*.npz")), process, "checkpoint")


def wait_for_metrics_row(run_dir, process):
    wait_until(lambda: RunDir(run_dir).read_metrics(), process, "metrics row")


def wait_for_generation(process):
    """Captcha generation has begun: its worker processes exist."""
    wait_until(lambda: children(process.pid), process, "generator worker")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 100-step run that interrupted runs must end up equal to."""
    root = tmp_path_factory.mktemp("reference")
    assert run_cli(train_script.main, ["--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
                                       "--run-dir", str(root / "run"),
                                       "--data-dir", str(root / "data")]) == 0
    return {"metrics": metrics(root / "run"), "data": root / "data"}


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(reference, tmp_path, run_main):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, reference["data"])
    wait_for_checkpoint(run_dir, process)
    time.sleep(random.uniform(0.0, 0.5))  # Anywhere: in a step, an evaluation or a write.
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "summary.json").exists(), "the run finished before it could be killed"
    assert (run_dir / ".lock").read_text().strip() == str(process.pid)  # Its lock file stays...

    result = run_main(train_script.main, "--run-dir", str(run_dir), "--resume", "--no-progress",
                      "--data-dir", str(reference["data"]))
    assert result.returncode == 0, result.stderr  # ... and does not block --resume.
    assert "resuming" in result.stdout
    resumed = metrics(run_dir)
    assert [row["step"] for row in resumed] == list(range(0, 101, 10))  # No gap, no double.
    assert resumed == reference["metrics"]
    assert not list(run_dir.rglob(".*.tmp*"))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_checkpoints_and_says_how_to_resume(reference, tmp_path, signum,
                                                        run_main):
    """Ctrl-C, and what Slurm, docker stop, systemd and timeout send (SIGTERM) or a closed
    terminal (SIGHUP): finish the step, checkpoint, say how to continue, exit 128 + signal."""
    run_dir = tmp_path / "run"
    process = start_training(run_dir, reference["data"])
    wait_for_checkpoint(run_dir, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    # 80 of the 100 steps were left when the signal was sent: it cannot arrive too late.
    assert process.returncode == 128 + signum, (stdout, stderr)
    assert "Traceback" not in stderr
    assert f"by {signal.Signals(signum).name}; checkpoint saved" in stderr
    assert f"python train.py --run-dir {run_dir} --resume" in stderr
    stopped_at = int(stderr.split("stopped at step ")[1].split(" ")[0])
    assert (run_dir / "checkpoints" / f"step-{stopped_at:08d}.npz").is_file()
    assert [row["step"] for row in metrics(run_dir)][-1] <= stopped_at

    result = run_main(train_script.main, "--run-dir", str(run_dir), "--resume", "--no-progress",
                      "--data-dir", str(reference["data"]))
    assert result.returncode == 0, result.stderr
    assert metrics(run_dir) == reference["metrics"]


@pytest.mark.slow
def test_a_hangup_ignored_at_start_stays_ignored(reference, tmp_path):
    """Under nohup (SIGHUP ignored when the run starts) a closed terminal does not stop the run."""
    run_dir = tmp_path / "run"

    def ignore_hangup():
        default_stop_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    process = subprocess.Popen(
        [sys.executable, "train.py", "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
         "--run-dir", str(run_dir), "--data-dir", str(reference["data"])],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ignore_hangup)
    wait_for_checkpoint(run_dir, process)
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert metrics(run_dir) == reference["metrics"]


GENERATION = ["--set", "data.train_size=4000", "--set", "train.steps=6"]


@pytest.mark.slow
@pytest.mark.parametrize("signum, to_group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM to the command", "Ctrl-C to its process group"])
def test_a_stop_during_data_generation_leaves_no_cache_and_no_workers(tmp_path, run_main, signum,
                                                                      to_group):
    """A stop while the captcha workers start (a terminal's Ctrl-C reaches every process of the
    group, the workers too): they end with the command, with no traceback from any of them, no
    cache file and no run directory are left half-made, and the same command then completes the
    run."""
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    process = start_training(run_dir, data_dir, *GENERATION)
    wait_for_generation(process)
    workers = children(process.pid)
    if to_group:
        os.killpg(process.pid, signum)  # start_new_session: the group is the command's own.
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and f"stopped by {signal.Signals(signum).name}" in stderr
    deadline = time.monotonic() + 10  # The pool's terminate() has been sent; let them go.
    while any(Path(f"/proc/{pid}").exists() and children(process.pid) for pid in workers):
        assert time.monotonic() < deadline, f"stray generator workers {workers}"
        time.sleep(0.05)
    assert not [p for p in data_dir.rglob("*") if p.is_file()], "a cache file was left"
    assert not run_dir.exists()

    result = run_main(train_script.main, "--config", "smoke.yaml", "--no-progress", *GENERATION,
                      "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--resume")
    assert result.returncode == 0, result.stderr
    fresh = run_main(train_script.main, "--config", "smoke.yaml", "--no-progress", *GENERATION,
                     "--run-dir", str(tmp_path / "fresh"), "--data-dir", str(data_dir))
    assert fresh.returncode == 0, fresh.stderr
    assert metrics(run_dir) == metrics(tmp_path / "fresh")


def test_a_held_stop_signal_is_delivered_after_the_block_once():
    """What keeps a stop from cutting a worker pool's start in half (captchas.generate)."""
    from captcha_cnn.core.signals import stop_signals_held

    delivered = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: delivered.append(signum))
    try:
        with stop_signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            assert delivered == []
        assert delivered == [signal.SIGTERM]
        with stop_signals_held():
            pass
        assert delivered == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


WORKERS_START_MASK = """
import contextlib, signal
from captcha_cnn.data import captchas
from captcha_cnn.core import signals

held = signals.stop_signals_held
masks = []

@contextlib.contextmanager
def spied():  # The thread's mask once the pool exists: the one its workers were started with.
    with held():
        yield
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))

captchas.stop_signals_held = spied
with contextlib.ExitStack() as stack:
    captchas._start_workers(stack, 1)
print(sorted(signal.Signals(s).name for s in set(signals.STOP_SIGNALS) - masks[0]))
"""


@pytest.mark.slow
def test_captcha_workers_start_with_every_stop_signal_blocked():
    """Deterministically, what the Ctrl-C-to-the-group case above hits only now and then: the
    workers inherit the starting thread's mask, and starting multiprocessing's resource tracker
    inside the hold would unblock SIGINT and SIGTERM. In a fresh interpreter: in this one an
    earlier test may already have started the tracker."""
    result = subprocess.run([sys.executable, "-c", WORKERS_START_MASK], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "unblocked while the workers started: " + result.stdout


@pytest.mark.slow
def test_a_second_process_on_the_same_run_is_refused(reference, tmp_path, capsys):
    """Two terminals, a resubmitted job or two --resume: the second gets one line naming the
    directory and the first one's process id, exit 2, and changes nothing."""
    run_dir = tmp_path / "run"
    process = start_training(run_dir, reference["data"])
    wait_for_metrics_row(run_dir, process)
    before = {path: path.stat().st_mtime_ns for path in run_dir.rglob("*") if path.is_file()
              and "checkpoints" not in path.parts and "tensorboard" not in path.parts}
    for extra in ([], ["--resume"]):
        argv = ["--config", "smoke.yaml", "--no-progress", *LONG_SMOKE, "--run-dir",
                str(run_dir), "--data-dir", str(reference["data"]), *extra]
        assert run_cli(train_script.main, argv) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) <= 2 and error[-1].startswith("error: "), error
        assert f"{run_dir} is in use: process {process.pid} is training in it" in error[-1]
    assert (run_dir / "config.yaml").is_file() and not (run_dir / "summary.json").exists()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert metrics(run_dir) == reference["metrics"]
    # The first process's own files were rewritten only by it: the refused ones left no trace.
    assert all(path.exists() for path in before)


@pytest.mark.slow
def test_a_sweep_or_reproduction_skips_a_run_another_process_trains(smoke_config,
                                                                    shared_data_dir, tmp_path,
                                                                    capsys):
    run = RunDir(tmp_path / "taken")
    entries = [PlannedRun("taken", smoke_config(), run.path),
               PlannedRun("free", smoke_config(), tmp_path / "free")]
    with run.locked():  # As another process would hold it.
        train_runs(entries, shared_data_dir, progress=False)
    assert f"skipped: {run.path} is in use: process {os.getpid()}" in capsys.readouterr().out
    assert not run.path.exists()  # Untouched: the lock's own directory went with it.
    assert (tmp_path / "free" / "summary.json").is_file()


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_torn_last_metrics_line_is_dropped_on_resume(smoke_config, shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(smoke_config("train.steps=6"), "run", run.path, data_dir=shared_data_dir,
          progress=False)
    with open(run.metrics, "a") as handle:
        handle.write('{"step": 9, "train_lo')  # A crash in mid-append.
    assert [row["step"] for row in run.read_metrics()] == [0, 3, 6]
    train(smoke_config("train.steps=9"), "run", run.path, resume=True, data_dir=shared_data_dir,
          progress=False)
    assert [row["step"] for row in run.read_metrics()] == [0, 3, 6, 9]


def test_a_run_name_cannot_escape_the_runs_folder(smoke_config):
    with pytest.raises(UserError, match="cannot be used as a run name"):
        train(smoke_config(), "../outside", progress=False)
    assert os.path.isdir(REPO / "runs")


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["generating data", "first metrics row", "first checkpoint"])
def test_sigkill_at_any_moment_then_resume_finishes_the_same_run(reference, tmp_path, moment,
                                                                 run_main):
    """Killed during data generation (a fresh data folder), after its first evaluation or after
    its first checkpoint: --resume on the same command always ends with the uninterrupted run's
    metrics."""
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    process = start_training(run_dir, data_dir)
    {"generating data": lambda: wait_for_generation(process),
     "first metrics row": lambda: wait_for_metrics_row(run_dir, process),
     "first checkpoint": lambda: wait_for_checkpoint(run_dir, process)}[moment]()
    process.send_signal(signal.SIGKILL)
    process.wait()
    result = run_main(train_script.main, "--config", "smoke.yaml", "--no-progress", *LONG_SMOKE,
                      "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--resume")
    assert result.returncode == 0, result.stderr
    assert metrics(run_dir) == reference["metrics"]


def _failing_on_the_way_out(stop: KeyboardInterrupt):
    """A command whose library code, cut short by a stop, fails as it unwinds (TensorFlow's
    tracing raised "Concurrent access?" from a context manager a Ctrl-C interrupted)."""
    def main(argv):
        try:
            raise stop
        finally:
            raise AssertionError("Concurrent access?")
    return main


@pytest.mark.parametrize("stop, status, name", [(KeyboardInterrupt(), 130, "SIGINT"),
                                                (StopSignal(signal.SIGTERM), 143, "SIGTERM")])
def test_a_failure_while_a_stop_unwinds_is_the_stop(stop, status, name, capsys):
    assert run_cli(_failing_on_the_way_out(stop)) == status
    assert capsys.readouterr().err.strip() == f"stopped by {name}"


def test_a_failure_with_no_stop_behind_it_is_not_hidden():
    def main(argv):
        try:
            raise ValueError("a bug")
        finally:
            raise AssertionError("another")
    with pytest.raises(AssertionError):
        run_cli(main)
