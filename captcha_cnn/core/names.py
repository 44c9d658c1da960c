"""Names that become folders: the one check every name from a plan, a config or an argument
passes before it is joined to a folder a command was given (a run under runs/, a pair's runs and
figures, a study's figures, a sweep's cells), so nothing is ever written outside that folder."""

from __future__ import annotations

import re

from captcha_cnn.core.errors import ConfigError

# Letters, digits, '.', '_' and '-', starting with a letter or a digit: no '/', no '..', no
# leading '.' (hidden) or '-' (an option), nothing a shell or another system reads differently.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# File systems allow 255 bytes; a run name gains suffixes (-seed12, -worker3, .tmp) after this.
MAX_NAME_LENGTH = 120


def checked_name(name, where: str) -> str:
    """`name` if it can be one folder name inside the folder it is joined to; otherwise a
    one-line ConfigError naming `where` (the file and key, or the flag) and the rule."""
    shown = repr(name) if len(repr(name)) <= 80 else f"{repr(name)[:77]}..."
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: {shown} cannot be a folder name (letters, digits, '.', "
                          f"'_' and '-', starting with a letter or digit): a name must stay "
                          f"inside the folder it is written to")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"{where}: {shown} is {len(name)} characters; a folder name here has "
                          f"at most {MAX_NAME_LENGTH}")
    return name
