"""Compare runs side by side, or read an image with a trained run.

    python evaluate.py runs/correct runs/buggy            # curves.png and summary.md in runs/compare
    python evaluate.py runs/correct --out /tmp/e
    python evaluate.py runs/correct --image captcha.png   # prints the text the model reads
    python evaluate.py --sweep configs/sweep.yaml         # train and report a grid of short runs
    python evaluate.py --reproduce                        # train what is missing, publish results/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.config import REPO_ROOT
from captcha_cnn.errors import UserError


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the figure and table go (default: runs/compare, or "
                        "docs/sweep for --sweep)")
    parser.add_argument("--until", type=int, metavar="STEP",
                        help="compare only the evaluations up to this step")
    parser.add_argument("--image", type=Path, help="an image file to read with the run's model")
    parser.add_argument("--sweep", type=Path, metavar="SWEEP_YAML",
                        help="train the grid a sweep file describes (skipping finished cells) "
                        "and draw its heatmap and table")
    parser.add_argument("--sweep-runs", type=Path, default=REPO_ROOT / "runs" / "sweep",
                        help="where the sweep's runs go (default: runs/sweep)")
    parser.add_argument("--reproduce", type=Path, nargs="?", const=Path("reproduce.yaml"),
                        metavar="PLAN_YAML", help="train every run of the reproduction plan that "
                        "is not finished, then write results/ (default plan: "
                        "configs/reproduce.yaml)")
    parser.add_argument("--seeds", help="with --reproduce: only these seeds, e.g. 0 or 0,1")
    parser.add_argument("--publish-only", action="store_true",
                        help="with --reproduce: train nothing, publish what the runs hold now")
    parser.add_argument("--reproduce-runs", type=Path, default=REPO_ROOT / "runs" / "reproduce",
                        help="where the reproduction's runs go (default: runs/reproduce)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="captcha cache for --sweep and --reproduce (default: data/)")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up messages")
    args = parser.parse_args(argv)
    if args.verbose:
        make_verbose()
    if args.reproduce is None:
        for flag, given in (("--seeds", args.seeds), ("--publish-only", args.publish_only)):
            if given:
                parser.error(f"{flag} applies to --reproduce only")

    if args.reproduce is not None:
        import_tensorflow_quietly(say_device=not args.publish_only)
        from captcha_cnn.reproduce import reproduce

        seeds = None
        if args.seeds:
            try:
                seeds = [int(seed) for seed in args.seeds.split(",")]
            except ValueError:
                raise UserError(f"--seeds {args.seeds}: expected integers like 0,1,2") from None
        report = reproduce(args.reproduce, args.reproduce_runs, args.out or REPO_ROOT / "results",
                           seeds, args.data_dir, train_runs=not args.publish_only)
        print(f"wrote {report}")
        return

    if args.sweep is not None:
        import_tensorflow_quietly()
        from captcha_cnn.sweep import report

        out = report(args.sweep, args.sweep_runs, args.out or REPO_ROOT / "docs" / "sweep",
                     args.data_dir)
        print(f"wrote {out / 'heatmap.png'}, {out / 'sweep.md'} and {out / 'sweep.json'}")
        return
    if not args.runs:
        parser.error("give at least one RUN_DIR (or --sweep SWEEP_YAML)")

    if args.image is not None:
        if len(args.runs) != 1:
            raise UserError("--image reads with one run: give exactly one RUN_DIR")
        import_tensorflow_quietly(say_device=False)
        from captcha_cnn.evaluation import read_image

        text, probabilities = read_image(args.runs[0], args.image)
        print(f"{text}  (per-character probability: "
              f"{', '.join(f'{p:.2f}' for p in probabilities)})")
        return

    from captcha_cnn.evaluation import compare

    written = compare(args.runs, args.out or REPO_ROOT / "runs" / "compare", args.until)
    print(f"wrote {', '.join(str(path) for path in written)}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
