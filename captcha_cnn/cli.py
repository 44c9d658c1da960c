"""What the command-line entry points share: quiet TensorFlow logs and one-line errors."""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) buries the experiment's own
# output; keep warnings and errors. Must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from captcha_cnn.errors import UserError  # noqa: E402


def run_cli(main, argv=None) -> int:
    """Run `main(argv)`; a UserError becomes `error: ...` on stderr and exit status 2."""
    try:
        main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # A full disk, a file where a folder should be, no permission.
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
