"""The doctor panel: real failing Keras programs, their fixes and healthy models, each fitted
without the doctor (is the failure real?) and with it (is the verdict right, and how soon?).

    python -m captcha_cnn.perf.doctor_panel              # benchmarks/doctor-panel.json, docs/doctor-panel.md
    python -m captcha_cnn.perf.doctor_panel --only so31880720 so31880720-fixed
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, run_cli
from captcha_cnn.core.config import REPO_ROOT
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.machine import cpu_name


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m captcha_cnn.perf.doctor_panel",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these case ids")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "benchmarks" / "doctor-panel.json")
    parser.add_argument("--markdown", type=Path, default=REPO_ROOT / "docs" / "doctor-panel.md")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    import_tensorflow_quietly(say_device=False)
    from captcha_cnn.perf.doctor_panel.panel import CASES
    from captcha_cnn.perf.doctor_panel.report import markdown
    from captcha_cnn.perf.doctor_panel.run import calibrate, diagnose

    known = {case.id for case in CASES}
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        raise UserError(f"--only: unknown case {unknown[0]!r} (known: {', '.join(sorted(known))})")
    cases = [case for case in CASES if not args.only or case.id in args.only]
    start, rows = time.perf_counter(), []
    for case in cases:
        row = {"id": case.id, "kind": case.kind, "source": case.source,
               "benchmark": case.benchmark, "expected": case.expected, "also": list(case.also),
               "symptom": case.symptom, "anchors": case.anchors,
               "calibration": calibrate(case, args.seed), "doctor": diagnose(case, args.seed)}
        print(f"{case.id:30s} calibrated={row['calibration']['shown']!s:5s} "
              f"verdict={row['doctor']['final']} right={row['doctor']['right']}", flush=True)
        rows.append(row)
    result = {"machine": cpu_name(), "date": datetime.date.today().isoformat(),
              "seconds": round(time.perf_counter() - start, 1), "seed": args.seed, "cases": rows}
    write_atomically(args.json, (json.dumps(result, indent=1) + "\n").encode())
    write_atomically(args.markdown, markdown(result).encode())
    print(f"wrote {args.json} and {args.markdown} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
