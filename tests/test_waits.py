"""Every wait has a limit and the stop signals end it: a multi-worker start whose peer never
comes gives up after train.worker_wait_s naming it, and SIGTERM or Ctrl-C end the wait at once."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, default_stop_signals

from captcha_cnn.core.errors import UserError
from captcha_cnn.train.workers import wait_for_workers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_a_worker_that_answers_ends_the_wait_at_once():
    with socket.socket() as peer:
        peer.bind(("localhost", 0))
        peer.listen(1)
        started = time.monotonic()
        wait_for_workers([f"localhost:{free_port()}", f"localhost:{peer.getsockname()[1]}"], 0,
                         wait_s=30)
        assert time.monotonic() - started < 5


def test_a_missing_worker_is_named_after_the_limit():
    missing = f"localhost:{free_port()}"
    started = time.monotonic()
    with pytest.raises(UserError, match=rf"worker 1 \({missing}\) did not answer within 1 s "
                                        rf"\(train.worker_wait_s\)"):
        wait_for_workers([f"localhost:{free_port()}", missing], 0, wait_s=1)
    assert 1 <= time.monotonic() - started < 5


def start_lonely_worker(tmp_path, wait_s, workers=None):
    """`train.py` as worker 0 of two (`workers`, else two free ports), in a session of its own."""
    workers = workers or [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    environment = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": 0}}))
    return workers, subprocess.Popen(
        [sys.executable, "train.py", "--config", "smoke.yaml", "--no-progress",
         "--set", "train.distribute=multi_worker", "--set", f"train.worker_wait_s={wait_s}",
         "--run-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "data")],
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_stop_signals, start_new_session=True)


@pytest.mark.slow
def test_train_gives_up_on_a_missing_worker_in_one_line(tmp_path):
    workers, process = start_lonely_worker(tmp_path, 3)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    assert f"worker 1 ({workers[1]}) did not answer within 3 s" in stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_wait_for_a_worker(tmp_path, signum):
    workers, process = start_lonely_worker(tmp_path, 600)
    deadline = time.monotonic() + 240
    while not _listening(workers[0]):  # Worker 0 is waiting for worker 1 now.
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def worker_with_a_mute_peer(tmp_path, wait_s: int):
    """`train.py` as worker 0 of two, whose peer's port accepts connections (so the rendezvous
    passes) but never speaks TensorFlow's protocol."""
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    mute = socket.socket()
    mute.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    mute.bind(("localhost", int(workers[1].rsplit(":", 1)[1])))
    mute.listen(16)
    _, process = start_lonely_worker(tmp_path, wait_s, workers)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        mute.close()


@pytest.mark.slow
def test_tensorflow_s_handshake_with_a_peer_that_never_answers_ends_after_the_limit(tmp_path):
    """TensorFlow's handshake with a mute peer would wait forever, ignoring SIGTERM (measured:
    its preemption handler takes it). The watchdog ends it after train.worker_wait_s."""
    started = time.monotonic()
    with worker_with_a_mute_peer(tmp_path, 8) as process:
        _, stderr = process.communicate(timeout=240)
    assert process.returncode == -signal.SIGKILL, stderr
    assert "TensorFlow's handshake with the workers of TF_CONFIG did not finish within 8 s " \
           "(train.worker_wait_s)" in stderr
    assert "Traceback" not in stderr
    assert time.monotonic() - started < 200


@pytest.mark.slow
@pytest.mark.parametrize("stop, to_group", [(signal.SIGTERM, True), (signal.SIGINT, True),
                                            (signal.SIGTERM, False), (signal.SIGHUP, False)],
                         ids=["SIGTERM-group", "SIGINT-group", "SIGTERM-pid", "SIGHUP-pid"])
def test_a_stop_ends_tensorflow_s_handshake_at_once(tmp_path, stop, to_group):
    """TensorFlow's handler would take SIGTERM during its handshake. Sent to the process group
    (as a terminal or Slurm sends it), the watchdog acts on it; sent to the process alone (`kill
    PID`, docker stop), it stays pending, held blocked in every thread, where the watchdog sees
    it. Either way the command ends at once, saying so. A Ctrl-C (SIGINT to the group) ends the
    waiting process itself, and the watchdog says so without a traceback of its own."""
    with worker_with_a_mute_peer(tmp_path, 600) as process:
        deadline = time.monotonic() + 240
        while not _watchdog_of(process.pid):  # TensorFlow's handshake has begun.
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        time.sleep(1.0)  # Let the watchdog set its handlers (it is a fresh interpreter).
        stopped = time.monotonic()
        (os.killpg if to_group else os.kill)(process.pid, stop)
        _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 30
    # Which of the two ends the waiting process first is a race under SIGINT: either is a stop.
    assert process.returncode in (-signal.SIGKILL, -stop), stderr
    assert f"stopped by {stop.name}" in stderr and "Traceback" not in stderr


def _watchdog_of(pid: int) -> bool:
    """Whether a child of `pid` is the handshake's watchdog (Linux /proc)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text and b"deadline" in command:
            return True
    return False
