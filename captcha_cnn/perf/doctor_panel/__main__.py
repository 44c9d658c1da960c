"""The doctor panel: real failing Keras programs, their fixes and healthy models, each fitted
without the doctor (is the failure real?) and with it (is the verdict right, and how soon?).

    python -m captcha_cnn.perf.doctor_panel              # benchmarks/doctor-panel.json, docs/doctor-panel.md
    python -m captcha_cnn.perf.doctor_panel --only so31880720 so31880720-fixed   # prints only
    python -m captcha_cnn.perf.doctor_panel --render     # the page again from the JSON
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
    parser.add_argument("--json", type=Path, help="default: benchmarks/doctor-panel.json")
    parser.add_argument("--markdown", type=Path, help="default: docs/doctor-panel.md")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the markdown from the JSON of an earlier run")
    args = parser.parse_args(argv)
    # A partial run (--only) prints its lines but does not replace the full panel's files
    # unless told where to write.
    writes = not args.only or args.json or args.markdown
    args.json = args.json or (REPO_ROOT / "benchmarks" / "doctor-panel.json" if writes else None)
    args.markdown = args.markdown or (REPO_ROOT / "docs" / "doctor-panel.md" if writes else None)
    return args


def _render(args) -> int:
    from captcha_cnn.perf.doctor_panel.report import markdown

    try:
        result = json.loads(args.json.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{args.json}: cannot read an earlier run ({error})") from None
    write_atomically(args.markdown, markdown(result).encode())
    print(f"wrote {args.markdown}")
    return 0


def main(argv=None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    if args.render:
        return _render(args)
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
    for path, text in ((args.json, json.dumps(result, indent=1) + "\n"),
                       (args.markdown, markdown(result))):
        if path is not None:
            write_atomically(path, text.encode())
            print(f"wrote {path}")
    print(f"{len(rows)} cases in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
