"""The rules of `data.source` and the keys only a folder of images uses (data.folder, the inferred
charset and length, data.test_fraction), kept apart from config_rules.py's.

What a folder holds (its labels, its images) is checked by captcha_cnn.data.folder, before
TensorFlow loads; this module checks only what the config itself says.
"""

from __future__ import annotations

from captcha_cnn.core.errors import ConfigError

SOURCES = ("generator", "folder")
# The values that ask a folder's labels for the charset and the length.
INFER_CHARSET = ""
INFER_LENGTH = 0


def inferred_keys(data: dict) -> tuple[str, ...]:
    """The keys (charset, length) a folder source leaves to its labels."""
    return tuple(key for key, value in (("charset", INFER_CHARSET), ("length", INFER_LENGTH))
                 if data[key] == value)


def validate_source(data: dict, source: str) -> None:
    """`data.source` and the folder keys; the generator must not be given a folder's settings."""
    if data["source"] not in SOURCES:
        raise ConfigError(f"{source}: data.source: unknown value {data['source']!r} "
                          f"(allowed: {', '.join(SOURCES)})")
    if not 0 <= data["test_fraction"] < 1:
        raise ConfigError(f"{source}: data.test_fraction: must be in [0, 1) (0: use "
                          f"data.test_size), got {data['test_fraction']}")
    if data["source"] == "folder":
        if not data["folder"]:
            raise ConfigError(f"{source}: data.folder: source folder needs the folder of "
                              f"images (data.folder: PATH)")
        return
    if data["folder"]:
        raise ConfigError(f"{source}: data.folder: {data['folder']!r} is read only with "
                          f"data.source folder (it is {data['source']!r})")
    if data["test_fraction"]:
        raise ConfigError(f"{source}: data.test_fraction: is for data.source folder (the "
                          f"generator draws data.test_size captchas)")
    for key in inferred_keys(data):
        raise ConfigError(f"{source}: data.{key}: {data[key]!r} infers it from a folder's "
                          f"labels, which needs data.source folder")
