"""Compare runs side by side, or read an image with a trained run.

    python evaluate.py runs/correct runs/buggy            # curves.png and summary.md in runs/compare
    python evaluate.py runs/correct --out /tmp/e
    python evaluate.py runs/correct --image captcha.png   # prints the text the model reads
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.cli import run_cli
from captcha_cnn.errors import UserError


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, default=Path("runs/compare"),
                        help="where curves.png and summary.md go (default: runs/compare)")
    parser.add_argument("--image", type=Path, help="an image file to read with the run's model")
    args = parser.parse_args(argv)

    if args.image is not None:
        if len(args.runs) != 1:
            raise UserError("--image reads with one run: give exactly one RUN_DIR")
        from captcha_cnn.evaluation import read_image

        text, probabilities = read_image(args.runs[0], args.image)
        print(f"{text}  (per-character probability: "
              f"{', '.join(f'{p:.2f}' for p in probabilities)})")
        return

    from captcha_cnn.evaluation import compare

    figure, table = compare(args.runs, args.out)
    print(f"wrote {figure} and {table}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
