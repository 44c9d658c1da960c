"""Compare runs side by side, or read an image with a trained run.

    python evaluate.py runs/correct runs/buggy            # curves.png and summary.md in runs/compare
    python evaluate.py runs/correct --out /tmp/e
    python evaluate.py runs/correct --image captcha.png   # prints the text the model reads

Training plans have their own entry points: `python -m captcha_cnn.experiments.reproduce` (the published
reproduction) and `python -m captcha_cnn.experiments.sweep configs/sweep.yaml` (a grid of short runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.core.config import REPO_ROOT
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import check_folder_argument

# Modes that train, moved to their own entry points; the old flags say where.
MOVED = {"--reproduce": "python -m captcha_cnn.experiments.reproduce [PLAN_YAML]",
         "--sweep": "python -m captcha_cnn.experiments.sweep SWEEP_YAML"}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for flag, command in MOVED.items():
        if any(arg == flag or arg.startswith(f"{flag}=") for arg in argv):
            raise UserError(f"evaluate.py {flag} moved: run `{command}` (see --help there)")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the figures and table go (default: runs/compare)")
    parser.add_argument("--until", type=int, metavar="STEP",
                        help="compare only the evaluations up to this step")
    parser.add_argument("--image", type=Path, help="an image file to read with the run's model")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up messages")
    args = parser.parse_args(argv)
    if args.verbose:
        make_verbose()
    if args.until is not None and args.until < 0:
        raise UserError(f"--until {args.until}: must be a step (0 or more)")

    if args.image is not None:
        if len(args.runs) != 1:
            raise UserError("--image reads with one run: give exactly one RUN_DIR")
        import_tensorflow_quietly(say_device=False)
        from captcha_cnn.train.reading import read_image

        text, probabilities = read_image(args.runs[0], args.image)
        print(f"{text}  (per-character probability: "
              f"{', '.join(f'{p:.2f}' for p in probabilities)})")
        return

    from captcha_cnn.analysis.compare import compare

    if args.out is not None:
        check_folder_argument(args.out, "--out")
        if (args.out / "config.yaml").is_file():  # A run, or a published copy: read-only here.
            raise UserError(f"--out {args.out}: a run directory (it holds config.yaml); the "
                            f"comparison's figures go in a folder of their own: pass another --out")
    written = compare(args.runs, args.out or REPO_ROOT / "runs" / "compare", args.until)
    print(f"wrote {', '.join(str(path) for path in written)}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
