"""Reading an image file as the gray the training data has, or refusing it in one line.

The training captchas are RGB; their gray is round(mean(R, G, B)) (`to_training_gray`). Every
other image mode Pillow decodes is brought to that same gray, the way the served model
(captcha_cnn.train.export, TensorFlow's decoder) brings it, so `evaluate.py --image` and the
SavedModel read one file alike:

- transparency (RGBA, LA, PA, a palette or gray with a transparent colour) is laid over white,
  as a person looking at the image sees it: gray = round(sum over R, G, B of
  (c * a + 255 * (255 - a)) / 765), exact in integers (no ties, so no rounding-mode question);
- 16-bit gray (I;16, I;16B, and mode I holding 0..65535) keeps its high byte, as TensorFlow's PNG
  decoder does: an 8-bit image saved as 16-bit (g * 257) reads back exactly g;
- 32-bit float (F) is on Pillow's own 0..255 scale and rounded; values outside it are refused;
- palette, 1-bit, CMYK and YCbCr go through Pillow's conversion to RGB.

Before anything is decoded, the file must be a regular file (a FIFO or a device would block or
never end) and its size, read from the header, must be the one asked for (or at most
MAX_PIXELS): a decompression bomb is refused, never decoded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import open_regular_file

# The largest image read when no size is asked for: 16 megapixels, 16 MB of gray, far above any
# captcha; Pillow's own bomb limit (89 megapixels, as RGBA 358 MB) is a warning, not a refusal.
MAX_PIXELS = 4096 * 4096
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def to_training_gray(image: Image.Image) -> np.ndarray:
    """Gray uint8 [height, width] of a decoded image of any mode (see the module docstring)."""
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        return _sixteen_bit_gray(image)
    if image.mode == "F":
        return _float_gray(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.int64)
        alpha = rgba[..., 3:]
        total = (rgba[..., :3] * alpha + 255 * (255 - alpha)).sum(axis=2)
        return ((2 * total + 765) // 1530).astype(np.uint8)  # round(total / 765), exactly.
    rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    return ((2 * rgb.sum(axis=2) + 3) // 6).astype(np.uint8)  # round(mean), exactly.


def _sixteen_bit_gray(image: Image.Image) -> np.ndarray:
    values = np.asarray(image).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ValueError(f"a 32-bit integer image with values from {values.min()} to "
                         f"{values.max()}, outside 16-bit gray; save it as 8-bit gray")
    return (values >> 8).astype(np.uint8)


def _float_gray(image: Image.Image) -> np.ndarray:
    values = np.asarray(image, dtype=np.float64)
    if values.size and not (np.isfinite(values).all() and values.min() >= 0
                            and values.max() <= 255):
        raise ValueError("a floating-point image with values outside 0..255 (or not finite); "
                         "save it as 8-bit gray")
    return np.rint(values).astype(np.uint8)


def read_gray_image(path: Path, width: int | None = None, height: int | None = None,
                    resize: bool = False) -> np.ndarray:
    """The image file as training gray, uint8 [height, width]; a file that is not a regular
    file, not an image, of another size than width x height (when given, unless `resize`),
    larger than MAX_PIXELS or in a mode that cannot be read exactly is a one-line UserError.
    The size is checked from the header, before the pixels are decoded. With `resize`, an
    image of another size is resized to width x height (`resize_gray`); a GIF gives its first
    frame."""
    with os.fdopen(open_regular_file(path, "an image file"), "rb") as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
            with image:
                _check_size(path, image.size, *((None, None) if resize else (width, height)))
                image.load()
                gray = to_training_gray(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UserError(f"{path}: refused before decoding: {error}") from None
        except UnidentifiedImageError:  # Its text names the file handle, not the file.
            raise UserError(f"{path}: not a readable image (no image format Pillow knows)") from None
        except (OSError, SyntaxError) as error:
            raise UserError(f"{path}: not a readable image ({error.__class__.__name__}: "
                            f"{str(error)[:120]})") from None
        except ValueError as error:  # A mode with no exact gray (see to_training_gray).
            raise UserError(f"{path}: cannot be read as gray: {str(error)[:200]}") from None
    if resize and gray.shape != (height, width):
        return resize_gray(gray, width, height)
    return gray


def resize_gray(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Gray uint8 resized to width x height with Pillow's bilinear filter, which widens when it
    shrinks (as TensorFlow's antialias does: the served model resizes the same way)."""
    return np.asarray(Image.fromarray(gray, "L").resize((width, height), Image.BILINEAR))


def _check_size(path: Path, size: tuple[int, int], width: int | None, height: int | None):
    if width is not None and height is not None and size != (width, height):
        raise UserError(f"{path}: image is {size[0]}x{size[1]}, the run was trained on "
                        f"{width}x{height} (data.width x data.height); resize it to that")
    if size[0] * size[1] > MAX_PIXELS:
        raise UserError(f"{path}: image is {size[0]}x{size[1]}, more than {MAX_PIXELS} pixels; "
                        f"refused before decoding")
