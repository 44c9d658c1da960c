"""Where a run's images come from, `data.source`: the captcha generator or a folder of files.

`prepare_data` runs before TensorFlow loads (train.py, the plans) and fails there in one line;
`load_sets` gives the training loop its (images, indices) pairs.
"""

from __future__ import annotations

from pathlib import Path

from captcha_cnn.data import captchas
from captcha_cnn.data.folder import load_folder_sets, prepare_folder, resolve_folder_config
from captcha_cnn.data.glyphs import check_charset_drawable


def prepare_data(config: dict, source: str, data_dir: Path | None = None,
                 progress: bool = True) -> dict:
    """The config the run trains with, its data checked: the generator's charset must be
    drawable; a folder is read (into the cache) and gives its charset and length."""
    if config["data"]["source"] == "folder":
        return prepare_folder(config, data_dir, progress)
    check_charset_drawable(config, source)
    return config


def resolve_config(config: dict) -> dict:
    """The config as a run saves it: a folder's charset and length read from its labels (no
    image decoded), so plans compare and name runs by what they train on."""
    if config["data"]["source"] == "folder":
        return resolve_folder_config(config)[0]
    return config


def load_sets(config: dict, data_dir: Path | None, progress: bool) -> tuple[tuple, tuple]:
    """Training and held-out sets: a folder's from its cache entry, the generator's generated
    once per spec and cached under data/ (so the buggy run reuses the correct one's)."""
    if config["data"]["source"] == "folder":
        return load_folder_sets(config, data_dir, progress)
    folder = data_dir or captchas.DEFAULT_DATA_DIR
    return tuple(captchas.load_or_generate(captchas.DatasetSpec.from_config(config, split),
                                           folder, progress) for split in ("train", "test"))
