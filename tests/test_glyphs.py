"""The charset check (captcha_cnn.data.glyphs): a character the captcha font cannot draw is refused
in one line, before TensorFlow loads or any data is made."""

from __future__ import annotations

import pytest

from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
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
