"""A folder of labeled captchas drawn by a generator that is not the `captcha` library's.

    python -m captcha_cnn.data.make_folder data/pillow-captchas --count 12000

The experiment's claim was measured on images of one library; this draws others, to train on with
`data.source: folder` (configs/folder.yaml). It uses Pillow and the DejaVu fonts that matplotlib
(already a dependency) bundles, and departs from `captcha`'s drawing on purpose: 12 fonts (sans,
serif, mono; bold, oblique) instead of one, colored ink on a colored gradient instead of a flat
background, a sine warp of the whole image instead of per-character warps, crossing lines and
specks instead of one curve and dots, a light blur, and a different size (180x64, resized to the
config's on reading). One file in ten is JPEG and one in ten WebP, so the reader's formats are
exercised too. Each file is a pure function of (seed, index): `TEXT_INDEX.png`.

This module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import random
import sys
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from captcha_cnn.core.cli import run_cli
from captcha_cnn.core.errors import UserError

WIDTH, HEIGHT = 180, 64  # Not the config's 160x60: the folder reader must resize.
# (suffix, Pillow format, options) by the file's index modulo 10.
FORMATS = {0: (".jpg", "JPEG", {"quality": 85}), 5: (".webp", "WEBP", {"quality": 90})}
PNG = (".png", "PNG", {})


@functools.cache
def fonts() -> tuple[Path, ...]:
    """The DejaVu TrueType files bundled with matplotlib (sans, serif and mono, with styles)."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = tuple(sorted(p for p in folder.glob("DejaVu*.ttf") if "Display" not in p.name))
    if not found:
        raise UserError(f"{folder}: no DejaVu fonts in matplotlib's data folder")
    return found


def _background(rng: random.Random) -> Image.Image:
    """A light vertical gradient between two random colors."""
    top = np.array([rng.randint(170, 255) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randint(170, 255) for _ in range(3)], dtype=np.float32)
    ramp = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    pixels = np.broadcast_to(top + (bottom - top) * ramp, (HEIGHT, WIDTH, 3))
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def _glyph(char: str, rng: random.Random) -> Image.Image:
    """One character in a random font, size and dark color, rotated, on a transparent tile."""
    font = ImageFont.truetype(str(rng.choice(fonts())), rng.randint(30, 42))
    left, top, right, bottom = font.getbbox(char)
    tile = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    ink = tuple(rng.randint(0, 110) for _ in range(3)) + (255,)
    ImageDraw.Draw(tile).text((4 - left, 4 - top), char, font=font, fill=ink)
    return tile.rotate(rng.uniform(-28, 28), resample=Image.BICUBIC, expand=True)


def _warp(image: Image.Image, rng: random.Random) -> Image.Image:
    """Shift each column up or down along one sine wave (the whole image, not per character)."""
    pixels = np.asarray(image)
    amplitude, period, phase = rng.uniform(2, 5), rng.uniform(50, 110), rng.uniform(0, 2 * math.pi)
    out = pixels.copy()
    for x in range(WIDTH):
        out[:, x] = np.roll(pixels[:, x], round(amplitude * math.sin(2 * math.pi * x / period
                                                                    + phase)), axis=0)
    return Image.fromarray(out, "RGB")


def draw(text: str, rng: random.Random) -> Image.Image:
    """The captcha of `text`: glyphs placed left to right with jitter and overlap, then noise."""
    image = _background(rng)
    glyphs = [_glyph(char, rng) for char in text]
    step = (WIDTH - 16) / len(text)
    for position, glyph in enumerate(glyphs):
        x = round(8 + position * step + (step - glyph.width) / 2 + rng.uniform(-4, 4))
        y = round((HEIGHT - glyph.height) / 2 + rng.uniform(-5, 5))
        image.paste(glyph, (x, y), glyph)
    pen = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 4)):  # Lines crossing the text, in the ink's range of colors.
        points = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)) for _ in range(2)]
        pen.line(points, fill=tuple(rng.randint(0, 140) for _ in range(3)),
                 width=rng.randint(1, 2))
    for _ in range(rng.randint(80, 200)):  # Specks.
        x, y = rng.randrange(WIDTH), rng.randrange(HEIGHT)
        pen.point((x, y), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    image = _warp(image, rng)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.8)))


def make_one(job: tuple[Path, str, int, int, int]) -> str:
    """Draw sample `index` and write it; return its file name."""
    folder, charset, length, seed, index = job
    rng = random.Random(f"make_folder/{seed}/{index}")
    text = "".join(rng.choice(charset) for _ in range(length))
    suffix, image_format, options = FORMATS.get(index % 10, PNG)
    path = folder / f"{text}_{index:05d}{suffix}"
    draw(text, rng).save(path, image_format, **options)
    return path.name


def make_folder(folder: Path, count: int, charset: str, length: int, seed: int,
                workers: int = 2) -> None:
    """Write `count` captchas into `folder`, which must be new or empty (nothing is replaced)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder}: exists and is not an empty folder; pass a new one")
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder, charset, length, seed, index) for index in range(count)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for done, _ in enumerate(pool.imap_unordered(make_one, jobs, chunksize=64), start=1):
            if done % 2000 == 0 or done == count:
                print(f"{done}/{count} captchas in {folder}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a new (or empty) folder to write into")
    parser.add_argument("--count", type=int, default=12000, help="captchas to draw")
    parser.add_argument("--charset", default="0123456789", help="characters to draw from")
    parser.add_argument("--length", type=int, default=4, help="characters per captcha")
    parser.add_argument("--seed", type=int, default=0, help="the drawing's seed")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing at once")
    args = parser.parse_args(argv)
    if args.count < 1 or args.length < 1 or args.workers < 1 or len(set(args.charset)) < 2:
        raise UserError("--count, --length and --workers must be at least 1 and --charset needs "
                        "2 different characters")
    make_folder(args.folder, args.count, args.charset, args.length, args.seed, args.workers)


if __name__ == "__main__":
    sys.exit(run_cli(main))
