"""Every image mode Pillow decodes reads as the gray the training data has (round(mean(R, G, B)),
transparency over white), the served model's decoder reads the same files alike, and a file that
is not a regular image of the right size is refused before it is decoded."""

import io
import os
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from captcha_cnn.core.errors import UserError
from captcha_cnn.data.images import MAX_PIXELS, read_gray_image, to_training_gray

GRAY = np.random.default_rng(0).integers(0, 256, (16, 48)).astype(np.uint8)
ALPHA = np.random.default_rng(1).integers(0, 256, (16, 48)).astype(np.uint8)


def over_white(gray, alpha):
    """The reference: ink of `gray` at opacity `alpha` on white, rounded (float64, no ties)."""
    g, a = gray.astype(np.float64), alpha.astype(np.float64)
    return np.round(g * a / 255 + 255 * (1 - a / 255)).astype(np.uint8)


def palette_image():
    image = Image.fromarray(GRAY, "P")
    image.putpalette([value for level in range(256) for value in (level,) * 3])
    return image


def transparent_palette():
    image = palette_image()
    image.info["transparency"] = int(GRAY[0, 0])  # One gray level is transparent: white.
    return image, np.where(GRAY == GRAY[0, 0], 255, GRAY).astype(np.uint8)


# (mode, the image, the gray it must read as, the file format it is saved in)
CASES = {
    "L": (lambda: Image.fromarray(GRAY, "L"), GRAY, "PNG"),
    "RGB": (lambda: Image.fromarray(np.dstack([GRAY] * 3), "RGB"), GRAY, "PNG"),
    "RGB unequal": (lambda: Image.fromarray(np.dstack([GRAY, ALPHA, 255 - GRAY]), "RGB"),
                    np.round((GRAY.astype(float) + ALPHA + 255 - GRAY) / 3).astype(np.uint8),
                    "PNG"),
    "1": (lambda: Image.fromarray(GRAY >= 128), np.where(GRAY >= 128, 255, 0), "PNG"),
    "P": (palette_image, GRAY, "PNG"),
    "P transparency": (lambda: transparent_palette()[0], transparent_palette()[1], "PNG"),
    "LA": (lambda: Image.fromarray(np.dstack([GRAY, ALPHA]), "LA"), over_white(GRAY, ALPHA),
           "PNG"),
    "RGBA": (lambda: Image.fromarray(np.dstack([GRAY] * 3 + [ALPHA]), "RGBA"),
             over_white(GRAY, ALPHA), "PNG"),
    "I;16 (8-bit saved as 16)": (lambda: Image.fromarray(GRAY.astype(np.uint16) * 257), GRAY,
                                 "PNG"),
    "I;16 (any 16-bit)": (lambda: Image.fromarray((GRAY.astype(np.uint16) << 8) + ALPHA), GRAY,
                          "PNG"),
    "I": (lambda: Image.fromarray(GRAY.astype(np.int32) * 257, "I"), GRAY, "TIFF"),
    "F": (lambda: Image.fromarray(GRAY + np.where(GRAY < 255, 0.25, -0.25).astype(np.float32),
                                  "F"), GRAY, "TIFF"),
    "CMYK": (lambda: Image.fromarray(np.dstack([np.zeros_like(GRAY)] * 3 + [255 - GRAY]),
                                     "CMYK"), GRAY, "TIFF"),
}


@pytest.mark.parametrize("case", CASES)
def test_every_mode_reads_as_training_gray(tmp_path, case):
    make, expected, kind = CASES[case]
    path = tmp_path / f"image.{kind.lower()}"
    make().save(path, kind)
    assert np.array_equal(read_gray_image(path, 48, 16), expected)
    assert np.array_equal(to_training_gray(make()), expected)  # In memory too.


def test_pinned_values_of_the_conversions():
    ink = Image.fromarray(np.array([[[0, 0], [0, 255], [100, 128], [255, 0]]], np.uint8), "LA")
    assert to_training_gray(ink).tolist() == [[255, 0, 177, 255]]  # 177 = 100 at half on white.
    sixteen = Image.fromarray(np.array([[0, 255, 256, 65535]], np.uint16))
    assert to_training_gray(sixteen).tolist() == [[0, 0, 1, 255]]
    rgb = Image.fromarray(np.array([[[0, 0, 1], [0, 1, 1], [255, 254, 254]]], np.uint8), "RGB")
    assert to_training_gray(rgb).tolist() == [[0, 1, 254]]  # 1/3 -> 0, 2/3 -> 1, 254.33 -> 254.


@pytest.mark.parametrize("values, mode", [
    ([[70000, 0]], "I"), ([[-1, 0]], "I"), ([[300.0, 0]], "F"), ([[np.nan, 0]], "F")])
def test_values_with_no_exact_gray_are_refused(tmp_path, values, mode):
    path = tmp_path / "odd.tiff"
    Image.fromarray(np.array(values, np.int32 if mode == "I" else np.float32), mode).save(path)
    with pytest.raises(UserError, match="cannot be read as gray: .*save it as 8-bit gray"):
        read_gray_image(path, 2, 1)


def png_header_only(width, height):
    """A PNG that claims width x height but holds almost nothing: what a bomb's header says."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))


def test_size_is_checked_from_the_header_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(5000, 5000))
    with pytest.raises(UserError, match="image is 5000x5000, the run was trained on 48x16"):
        read_gray_image(path, 48, 16)
    with pytest.raises(UserError, match=f"more than {MAX_PIXELS} pixels; refused before"):
        read_gray_image(path)
    path.write_bytes(png_header_only(20000, 20000))  # Past Pillow's own bomb limit.
    with pytest.raises(UserError, match="refused before decoding: Image size"):
        read_gray_image(path, 48, 16)


def test_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            read_gray_image(fifo, 48, 16)
        except UserError as error:
            outcome.append(str(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert outcome and "not a regular file (a FIFO" in outcome[0]


@pytest.mark.parametrize("make, fragment", [
    (lambda path: path.mkdir(), "a folder, not an image file"),
    (lambda path: None, "an image file not found"),
    (lambda path: path.write_bytes(Image.new("L", (48, 16)).tobytes()), "not a readable image"),
    (lambda path: path.write_bytes(png_header_only(48, 16)), "not a readable image"),
])
def test_what_is_not_an_image_is_named(tmp_path, make, fragment):
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(UserError, match=fragment):
        read_gray_image(path, 48, 16)


@pytest.mark.parametrize("case", [case for case in CASES if CASES[case][2] == "PNG"])
def test_the_served_model_decodes_every_png_mode_alike(case):
    """train.export's decoder (TensorFlow) gives the gray this module gives, pixel for pixel."""
    from captcha_cnn.train.export import decoded_gray

    make, expected, _ = CASES[case]
    encoded = io.BytesIO()
    make().save(encoded, "PNG")
    served = decoded_gray(encoded.getvalue()).numpy()[..., 0]
    assert np.array_equal(served, expected)
