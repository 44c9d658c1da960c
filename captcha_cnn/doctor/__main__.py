"""The verdict timeline of this project's runs, read from their metrics.jsonl.

    python -m captcha_cnn.doctor runs/correct runs/buggy
    python -m captcha_cnn.doctor results/runs/stall-*-seed0 --all     # every evaluation's verdict
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.core.cli import run_cli
from captcha_cnn.doctor.runs import diagnose_run
from captcha_cnn.doctor.timeline import describe_timeline


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m captcha_cnn.doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--all", action="store_true", help="print every evaluation's verdict")
    args = parser.parse_args(argv)
    for path in args.runs:
        verdicts = diagnose_run(path)
        print(f"{path}: {describe_timeline(verdicts)}")
        shown = verdicts if args.all else [verdicts[-1]]
        for verdict in shown:
            print(f"  step {verdict.at:,}: {verdict}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
