"""Which characters the captcha font can draw. A character the font lacks is drawn as the font's
missing-glyph box, the same box for every such character (emoji, CJK in the captcha's default
font), so a charset holding one makes images that no model can read: a config error."""

from __future__ import annotations

import functools

from captcha import image as captcha_image
from PIL import ImageFont

from captcha_cnn.core.errors import ConfigError

# A code point no font maps (the last private-use one of plane 16): it draws the missing glyph.
UNMAPPED = "\U0010FFFD"
# captcha 0.7.1 draws at sizes 42, 50 and 56; whether a glyph exists does not depend on the size.
GLYPH_SIZE = 42


@functools.cache
def _captcha_fonts() -> tuple:
    return tuple(ImageFont.truetype(path, GLYPH_SIZE) for path in captcha_image.DEFAULT_FONTS)


def _glyph(font, char: str) -> tuple[tuple[int, int], bytes] | None:
    """The character's bitmap as (size, pixels); None if the font's layout cannot place it (a
    control character), which would stop captcha generation with a traceback."""
    try:
        mask = font.getmask(char)
    except (RuntimeError, OSError, ValueError):
        return None
    return mask.size, bytes(mask)


def undrawable(charset: str) -> str:
    """The characters of `charset` that a captcha font draws as its missing glyph, or as nothing
    at all (a zero-width character), or cannot lay out (a control character); a space draws
    nothing on purpose and is kept."""
    missing = []
    for font in _captcha_fonts():
        unmapped = _glyph(font, UNMAPPED)
        for char in charset:
            glyph = _glyph(font, char)
            if glyph is None or glyph == unmapped or (char != " " and not any(glyph[1])):
                missing.append(char)
    return "".join(dict.fromkeys(missing))


def check_charset_drawable(config: dict, source: str) -> None:
    """Refuse a charset with a character the captcha font cannot draw, before any image is made."""
    missing = undrawable(config["data"]["charset"])
    if missing:
        codes = ", ".join(f"U+{ord(char):04X}" for char in missing)
        raise ConfigError(f"{source}: data.charset: the captcha font cannot draw {missing!r} "
                          f"({codes}): it would be drawn as the font's missing-glyph box (or not "
                          f"at all), which no model can learn; use characters the font has "
                          f"(Latin, Greek, Cyrillic letters, digits, punctuation)")
