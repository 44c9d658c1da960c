"""How a gray pixel becomes a model input: 8-bit gray (0 black to 255 white) divided by 255.

Training, evaluation, the served model and reading a user's image all scale through this one
constant, so a model never sees pixels on another scale than the one it was trained on.
"""

from __future__ import annotations

PIXEL_MAX = 255.0  # The largest 8-bit gray value: white.


def scale_gray(gray):
    """Gray values (a NumPy array or a float tensor) in [0, 255] -> [0, 1]."""
    return gray / PIXEL_MAX
