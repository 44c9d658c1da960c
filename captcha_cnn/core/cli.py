"""What the command-line entry points share: a quiet TensorFlow start and one-line errors."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile

# Set CAPTCHA_CNN_VERBOSE=1 (or pass --verbose) to see TensorFlow's own start-up messages.
VERBOSE_VARIABLE = "CAPTCHA_CNN_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


# TensorFlow's C++ logging (oneDNN notices, CUDA probing) buries the experiment's own output;
# keep warnings and errors, unless asked for everything. Must be set before TensorFlow is imported.
_QUIET_LOG_LEVEL = not verbose() and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
if _QUIET_LOG_LEVEL:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

from captcha_cnn.core.errors import StopSignal, UserError  # noqa: E402
from captcha_cnn.core.signals import (  # noqa: E402
    NATIVE_TAKEN,
    give_back_signals,
    raise_stop_signal,
    stop_signals_held,
    take_signals,
)


def make_verbose() -> None:
    """--verbose: show TensorFlow's own messages (before TensorFlow is imported)."""
    os.environ[VERBOSE_VARIABLE] = "1"
    if _QUIET_LOG_LEVEL:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)


@contextlib.contextmanager
def native_stderr_hidden():
    """Hide what native code writes to file descriptor 2 inside the block: TensorFlow's start-up
    lines that TF_CPP_MIN_LOG_LEVEL does not reach ("All log messages before absl::InitializeLog",
    "Could not find cuda drivers", "failed call to cuInit" on every machine without a GPU).
    If the block fails, what was hidden is shown, since it may say why."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly(say_device: bool = True) -> None:
    """Import TensorFlow and let it look for GPUs with its start-up chatter hidden; say in our
    own words, once, when there is no GPU (if `say_device`: the command is about to train)."""
    # The threads TensorFlow starts here inherit the held stops and keep them blocked: a SIGTERM
    # to the process then reaches Python, never TensorFlow's own handler (core.signals).
    with native_stderr_hidden(), stop_signals_held(NATIVE_TAKEN):
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if say_device and not gpus and not verbose():
        print(f"note: no GPU found; training runs on the CPU ({VERBOSE_VARIABLE}=1 shows "
              f"TensorFlow's own messages)", file=sys.stderr)


# An error is one line a person reads: a value quoted in it (a hostile file's) is cut short.
MAX_MESSAGE = 2000


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """The message on one line, at most `limit` characters (and a word saying how many more),
    cut at a space where one is near, so no word is cut in two."""
    message = " ".join(message.splitlines())
    if len(message) <= limit:
        return message
    space = message.rfind(" ", limit - 40, limit + 1)
    end = space if space > 0 else limit
    return f"{message[:end]}... ({len(message) - end} more characters cut)"


def stop_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The stop (Ctrl-C's KeyboardInterrupt or a StopSignal) that `error` is, or was raised while
    handling: a stop lands between any two bytecodes, and library code it interrupts may fail
    on its way out (TensorFlow's tracing raised "Concurrent access?" from a context manager a
    Ctrl-C cut short). Such a failure is the stop's, not a bug to show as a traceback."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def run_cli(main, argv=None) -> int:
    """Run `main(argv)`; a UserError becomes `error: ...` on stderr and exit status 2. SIGTERM and
    SIGHUP stop the command as Ctrl-C does (training checkpoints first: signals.StopRequest) and end
    it with status 128 + the signal's number."""
    previous = take_signals((signal.SIGTERM, signal.SIGHUP), raise_stop_signal)
    try:
        main(argv)
    except BaseException as error:
        interrupt = stop_behind(error)
        if interrupt is not None:
            signum = interrupt.signum if isinstance(interrupt, StopSignal) else signal.SIGINT
            print(f"\nstopped by {signal.Signals(signum).name}", file=sys.stderr)
            return 128 + signum
        if isinstance(error, UserError):
            print(f"error: {bounded(str(error))}", file=sys.stderr)
            return 2
        if isinstance(error, OSError):  # A full disk, a file where a folder should be, no permission.
            where = f"{error.filename}: " if error.filename else ""
            print(f"error: {bounded(where + str(error.strerror or error))}", file=sys.stderr)
            return 2
        raise
    finally:
        give_back_signals(previous)
    return 0
