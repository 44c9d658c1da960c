"""Starting a multi-worker cluster with a time limit, and with the stop signals working.

TensorFlow's MultiWorkerMirroredStrategy() waits inside native code, holding the interpreter,
until every worker of TF_CONFIG answers: a worker that never comes meant a process that waited
forever and ignored Ctrl-C and SIGTERM (their Python handlers never got to run). So:

1. Rendezvous first, in Python: each worker listens on its own cluster address and connects to
   the others' until every one answers (its rendezvous socket, or its TensorFlow server once it
   has moved on), polling, so a stop signal lands at once; after `train.worker_wait_s` the start
   gives up, naming the workers that did not answer.
2. Then the strategy is built with the stop signals at their default action: nothing is trained
   yet, so a stop there ends the process at once rather than never. TensorFlow's own handshake
   (its coordination service waiting for every task) can still wait forever, for a peer that
   accepts connections but never answers as TensorFlow, and while it waits TensorFlow's
   preemption handler takes SIGTERM (Ctrl-C still ends it). So a watchdog process limits it to
   `train.worker_wait_s` too: past that it prints one line and kills the waiting process, which
   holds the interpreter and could not act on a timer of its own.
3. SIGTERM and SIGHUP are held blocked in every thread while TensorFlow is imported and while
   it waits (`core.signals.stop_signals_held`), so one sent to the process stays pending instead
   of reaching TensorFlow's handler: the watchdog sees it and ends the wait at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.signals import NATIVE_TAKEN, STOP_SIGNALS

POLL_S = 0.2  # Between connection attempts: a stop signal waits at most this long.


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "localhost", int(port)


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=POLL_S):
            return True
    except OSError:
        return False


def wait_for_workers(workers: list[str], index: int, wait_s: float) -> None:
    """Return once every other worker's address accepts a connection; raise UserError naming
    the ones that did not within `wait_s` seconds."""
    beacon = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    beacon.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        with contextlib.suppress(OSError):  # Taken already: the others will still connect.
            beacon.bind(("", _address(workers[index])[1]))
            beacon.listen(len(workers))
        missing = [i for i in range(len(workers)) if i != index]
        deadline = time.monotonic() + wait_s
        while missing:
            missing = [i for i in missing if not _answers(_address(workers[i]))]
            if missing and time.monotonic() > deadline:
                names = ", ".join(f"worker {i} ({workers[i]})" for i in missing)
                raise UserError(f"train.distribute multi_worker: {names} did not answer within "
                                f"{wait_s:g} s (train.worker_wait_s); start it with the same "
                                f"TF_CONFIG cluster, or check its address and firewall")
            if missing:
                time.sleep(POLL_S)
    finally:
        beacon.close()


@contextlib.contextmanager
def stop_signals_end_the_process():
    """Stop signals at their default action (end the process) inside the block: for native
    waits that hold the interpreter, where a Python handler would never run."""
    previous = {signum: signal.signal(signum, signal.SIG_DFL) for signum in STOP_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# The watchdog: a Python process of its own, so it runs while the waiting one cannot. It polls
# its parent (a stop, or the end of the wait, ends it at once) and on the deadline prints the
# message as the command's error line and kills the parent (SIGKILL: TensorFlow takes SIGTERM).
# It acts on a stop too, printing "stopped by ..." and killing the parent:
# - one sent to the parent alone (`kill PID`, docker stop), which waits blocked in the parent
#   (`stop_signals_held`): it reads the parent's pending signals from /proc (Linux);
# - one sent to the whole process group (a terminal, Slurm), which reaches it as well: a SIGTERM
#   or SIGHUP, and a Ctrl-C, which would otherwise end it with a KeyboardInterrupt traceback.
WATCHDOG = """
import os, signal, sys, time
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
watched = [signal.Signals(int(number)) for number in sys.argv[4].split(",")]

def stop(signum, frame=None):
    print("stopped by " + signal.Signals(signum).name, file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)
    sys.exit(0)

def pending():
    try:
        with open(f"/proc/{parent}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)
    except (OSError, KeyError, ValueError):
        return 0

for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, stop)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    if os.getppid() != parent:
        sys.exit(0)
    held = pending()
    for signum in watched:
        if held & (1 << (signum - 1)):
            stop(signum)
    time.sleep(0.2)
print("error: " + message, file=sys.stderr, flush=True)
os.kill(parent, signal.SIGKILL)
"""


def _ignore_stops_until_handled() -> None:
    """In the watchdog before it starts: a stop to the group before its handlers are set is
    ignored (an ignored signal stays ignored across exec), so the limit always stays; the
    stops its parent holds blocked it lets through (a mask is inherited)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def native_wait_limit(seconds: float, message: str):
    """End this process with `message` as its one error line if the block has not returned
    within `seconds`, even while native code holds the interpreter (see the module docstring)."""
    watched = ",".join(str(int(signum)) for signum in NATIVE_TAKEN)
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(seconds),
                                 message, watched], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, preexec_fn=_ignore_stops_until_handled)
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()
