"""Writing files so that a reader, or a process killed halfway, never sees half of one; and
checking, before any slow work, that a folder given on the command line can be one.

The data generator, the run directory and the figures all write through here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from captcha_cnn.core.errors import UserError


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, nothing between."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:  # Named by the file being written, not its temporary name.
        raise OSError(error.errno, error.strerror, str(path)) from error
    finally:
        temporary.unlink(missing_ok=True)


def check_folder_argument(path: Path, flag: str) -> None:
    """Refuse a folder argument that cannot become a folder (a regular file, a symbolic link to
    nothing, a path under a file, a place without write permission) with a one-line error, so
    that it is found before data is generated or a run trains, not after."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise UserError(f"{flag} {path}: a symbolic link to {os.readlink(path)}, which does not "
                        f"exist; create that folder or pass another {flag}")
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{flag} {path}: a file, not a folder; pass another {flag}")
        return
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder; pass another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot be created (no permission to write in "
                        f"{existing}); pass another {flag}")


def open_regular_file(path: Path, what: str) -> int:
    """A descriptor of `path` opened for reading, if it is a regular file; otherwise a one-line
    error. Opened without blocking, so a FIFO is refused instead of waiting for a writer."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    kind = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(kind):
        os.close(descriptor)
        name = "a folder" if stat.S_ISDIR(kind) else "not a regular file (a FIFO, device or socket)"
        raise UserError(f"{path}: {name}, not {what}; give the path of a file")
    os.set_blocking(descriptor, True)
    return descriptor
