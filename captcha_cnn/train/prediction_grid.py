"""The grid of held-out captchas with the model's reading that TensorBoard shows at checkpoints.

Drawn with Pillow rather than matplotlib: it is made during training, at every checkpoint, where
a matplotlib figure cost 0.9 s per grid against Pillow's 0.02-0.05 s (docs/performance.md)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RIGHT, WRONG = (0, 128, 0), (200, 0, 0)  # Title colours: the whole reading right, or not.
TITLE_HEIGHT = 18  # Pixels above each captcha for "predicted / true".
MIN_CELL_WIDTH = 160  # Small images are enlarged (whole pixels) to at least this width.
GAP = 6  # Pixels between cells.


def prediction_grid(images: np.ndarray, true_texts: list[str], predicted_texts: list[str],
                    columns: int = 4) -> bytes:
    """PNG of gray captchas (N x height x width, uint8), each titled "predicted / true", green
    when the whole reading is right and red when it is not."""
    count, height, width = images.shape
    scale = max(1, -(-MIN_CELL_WIDTH // width))
    cell_width, cell_height = width * scale, height * scale + TITLE_HEIGHT
    rows = -(-count // columns)
    grid = Image.new("RGB", (columns * (cell_width + GAP) + GAP, rows * (cell_height + GAP) + GAP),
                     "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=13)
    for index, (image, true, predicted) in enumerate(zip(images, true_texts, predicted_texts,
                                                         strict=True)):
        left = GAP + (index % columns) * (cell_width + GAP)
        top = GAP + (index // columns) * (cell_height + GAP)
        draw.text((left, top), f"{predicted} / {true}", font=font,
                  fill=RIGHT if predicted == true else WRONG)
        captcha = Image.fromarray(image, mode="L").resize((cell_width, height * scale),
                                                          Image.Resampling.NEAREST)
        grid.paste(captcha.convert("RGB"), (left, top + TITLE_HEIGHT))
    buffer = io.BytesIO()
    grid.save(buffer, format="png")
    return buffer.getvalue()
