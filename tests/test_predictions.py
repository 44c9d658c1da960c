"""The TensorBoard grid of held-out readings: its layout, and green for right, red for wrong."""

import io

import numpy as np
import pytest
from PIL import Image

from captcha_cnn.train.prediction_grid import GAP, TITLE_HEIGHT, prediction_grid


def tints_in(image: Image.Image, box) -> set:
    """"green" and "red" if some pixel in the box leans clearly that way (text is antialiased,
    so its edges blend with the white background)."""
    tints = set()
    for _, (red, green, blue) in image.crop(box).getcolors(maxcolors=1 << 16):
        if green > red + 60 and green > blue + 60:
            tints.add("green")
        if red > green + 60 and red > blue + 60:
            tints.add("red")
    return tints


def test_small_captchas_are_enlarged_into_a_four_column_grid():
    images = np.full((6, 16, 48), 128, np.uint8)  # The smoke config's 48x16.
    grid = Image.open(io.BytesIO(prediction_grid(images, ["0123"] * 6, ["0123"] * 6)))
    cell_width, cell_height = 48 * 4, 16 * 4 + TITLE_HEIGHT  # 4x: the first scale >= 160 px.
    assert grid.size == (4 * (cell_width + GAP) + GAP, 2 * (cell_height + GAP) + GAP)
    assert grid.getpixel((GAP + 10, GAP + TITLE_HEIGHT + 10)) == (128, 128, 128)


def test_a_right_reading_is_titled_green_and_a_wrong_one_red():
    images = np.zeros((2, 60, 160), np.uint8)
    grid = Image.open(io.BytesIO(prediction_grid(images, ["1234", "1234"], ["1234", "1239"])))
    first_title = (GAP, GAP, GAP + 160, GAP + TITLE_HEIGHT)
    second_title = (2 * GAP + 160, GAP, 2 * GAP + 320, GAP + TITLE_HEIGHT)
    assert tints_in(grid, first_title) == {"green"}
    assert tints_in(grid, second_title) == {"red"}


def test_texts_must_match_the_images():
    with pytest.raises(ValueError):
        prediction_grid(np.zeros((2, 60, 160), np.uint8), ["1234"], ["1234"])
