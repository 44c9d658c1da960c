"""Inputs that cannot work are refused before the slow work: a charset the captcha font cannot
draw, a folder argument that cannot be a folder. And a transparent image is read as it looks."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.files import check_folder_argument
from captcha_cnn.data.captchas import to_gray
from captcha_cnn.data.glyphs import check_charset_drawable, undrawable


@pytest.mark.parametrize("charset, missing", [
    ("0123😀", "😀"), ("ab中文", "中文"), ("01\t", "\t"), ("01\u200b", "\u200b"),
    ("가나다", "가나다"), ("01\U0001F4A9\u2603", "\U0001F4A9\u2603"),
])
def test_a_character_the_font_cannot_draw_is_a_config_error(charset, missing):
    assert undrawable(charset) == missing
    config = load_config("smoke.yaml", [f"data.charset={charset}"])[0]
    with pytest.raises(ConfigError, match="data.charset: the captcha font cannot draw"):
        check_charset_drawable(config, "smoke.yaml")


@pytest.mark.parametrize("charset", ["0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "aé€Ωж ",
                                     "!#$%&()*+-/<=>?@"])
def test_characters_the_font_has_are_accepted(charset):
    assert undrawable(charset) == ""


def test_train_refuses_an_undrawable_charset_before_tensorflow_or_data(tmp_path, run_main):
    import train

    result = run_main(train.main, "--config", "smoke.yaml", "--set", "data.charset=0123😀",
                      "--run-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "U+1F600" in result.stderr
    assert "with --set data.charset" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def _folder_cases(tmp_path):
    (tmp_path / "file").write_text("mine")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    return {"file": (tmp_path / "file", "a file, not a folder"),
            "under a file": (tmp_path / "file" / "sub", "is a file, not a folder"),
            "dangling link": (tmp_path / "dangling", "a symbolic link to")}


@pytest.mark.parametrize("case", ["file", "under a file", "dangling link"])
@pytest.mark.parametrize("flag", ["--run-dir", "--data-dir"])
def test_train_refuses_a_folder_that_cannot_be_one_before_generating(tmp_path, run_main,
                                                                     case, flag):
    import train

    path, fragment = _folder_cases(tmp_path)[case]
    folders = {"--run-dir": tmp_path / "run", "--data-dir": tmp_path / "data", flag: path}
    result = run_main(train.main, "--config", "smoke.yaml", "--no-progress",
                      *[str(a) for pair in folders.items() for a in pair])
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {flag} {path}") and fragment in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    assert (tmp_path / "file").read_text() == "mine"  # Nothing a user has is overwritten.


@pytest.mark.parametrize("case", ["file", "under a file", "dangling link"])
def test_evaluate_and_the_plans_refuse_such_folders_too(tmp_path, run_main, case):
    import evaluate
    from captcha_cnn.experiments import sweep

    path, fragment = _folder_cases(tmp_path)[case]
    for main, argv, flag in ((evaluate.main, [str(tmp_path), "--out", str(path)], "--out"),
                             (sweep.main, ["sweep_smoke.yaml", "--runs", str(path),
                                           "--report-only"], "--runs")):
        result = run_main(main, *argv)
        assert result.returncode == 2 and result.stderr.startswith(f"error: {flag} {path}")
        assert fragment in result.stderr


def test_an_unwritable_parent_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UserError, match="no permission to write in"):
        check_folder_argument(locked / "run", "--run-dir")


def _ink(text_mask: np.ndarray, mode: str) -> Image.Image:
    """Black ink drawn only in the alpha channel (the colour channels are all 0 everywhere)."""
    alpha = text_mask.astype(np.uint8) * 255
    if mode == "RGBA":
        return Image.fromarray(np.dstack([np.zeros_like(alpha)] * 3 + [alpha]), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.dstack([np.zeros_like(alpha), alpha]), "LA")
    palette = Image.fromarray(np.where(text_mask, 1, 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 0, 0, 0])
    palette.info["transparency"] = 0  # Colour 0 (black) is transparent: the ink is colour 1.
    return palette


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_ink_only_in_alpha_reads_as_dark_on_white(tmp_path, mode):
    mask = np.zeros((16, 48), bool)
    mask[4:12, 10:20] = True
    _ink(mask, mode).save(tmp_path / "alpha.png")
    with Image.open(tmp_path / "alpha.png") as image:
        gray = to_gray(image)
    assert (gray[mask] == 0).all() and (gray[~mask] == 255).all()


def test_opaque_images_read_as_before():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 48, 3), dtype=np.uint8)
    expected = np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
    assert np.array_equal(to_gray(Image.fromarray(rgb, "RGB")), expected)
    half = Image.fromarray(np.dstack([rgb, np.full((16, 48), 255, np.uint8)]), "RGBA")
    assert np.array_equal(to_gray(half), expected)  # Fully opaque alpha changes nothing.
