"""Stop signals, in one place for the command line, the captcha workers and the training loop:
which signals stop a run, how a handler is put in and taken out, and how a stop waits for a
step to end."""

from __future__ import annotations

import contextlib
import signal

from captcha_cnn.core.errors import StopSignal


def raise_stop_signal(signum, frame):
    """A handler that turns the signal into StopSignal (a KeyboardInterrupt) where it lands."""
    raise StopSignal(signum)


def take_signals(signums, handler) -> dict:
    """Install `handler` for these signals; return the handlers it replaced, for
    `give_back_signals`. A signal ignored until now (SIGHUP under nohup) stays ignored."""
    return {signum: signal.signal(signum, handler) for signum in signums
            if signal.getsignal(signum) is not signal.SIG_IGN}


def give_back_signals(previous: dict) -> None:
    """Restore the handlers `take_signals` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


# Signals that stop a run cleanly: Ctrl-C, and what schedulers, `docker stop`, systemd, `timeout`
# (SIGTERM) and a closed terminal (SIGHUP) send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# The stop signals TensorFlow's native threads would take (its preemption handler catches
# SIGTERM); Ctrl-C it leaves to Python.
NATIVE_TAKEN = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_signals_held(signums=STOP_SIGNALS):
    """Block these signals (Ctrl-C, SIGTERM and SIGHUP by default) while the block runs; any that
    came are delivered when it ends. Threads and processes started inside inherit the blocked
    mask:
    - worker processes keep it until their initializer (`ignore_stop_signals`), so a start is
      not cut in half (a worker would read half its start-up data) and a Ctrl-C sent to the
      whole process group cannot reach one that is still starting. Whatever starts inside the
      block must not unblock them (multiprocessing's resource tracker does: see
      data.captchas._start_workers);
    - TensorFlow's native threads (NATIVE_TAKEN, around its import and its handshake) keep it
      for good, so a stop sent to the process reaches the main thread, or stays pending where
      a watchdog can see it (train.workers), never a native handler that swallows it."""
    received = []
    # Blocked in this thread (which the workers inherit); recorded if another thread takes one.
    previous = take_signals(signums, lambda signum, frame: received.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        give_back_signals(previous)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


def ignore_stop_signals() -> None:
    """For worker processes, once started: Ctrl-C and a closed terminal reach the whole process
    group, and the parent alone decides what a stop does (it ends its workers with SIGTERM).
    Ignoring a blocked signal discards it; then SIGTERM is let through again."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StopRequest:
    """Turns a stop signal into a flag the loop checks between steps, so a step is never cut in
    half and a checkpoint is written before the process ends. A signal ignored when the run
    began (SIGHUP under nohup) stays ignored."""

    def __init__(self):
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        self._previous = take_signals(STOP_SIGNALS, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # A second signal stops at once.
            self.__exit__()
            raise StopSignal(signum)
        self.signum = signum

    def __exit__(self, *exc):
        give_back_signals(self._previous)
        self._previous = {}
