"""How long the test suite takes here: the whole suite and the fast inner loop, timed and written
to benchmarks/suite-times.md, the one place that states the suite's size and time.

    python -m captcha_cnn.perf.suite_times            # runs both, about 5 minutes on 2 cores

Run it with the cores idle: the times are wall times of `python -m pytest` as the README gives it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from captcha_cnn.core.cli import run_cli
from captcha_cnn.core.config import REPO_ROOT
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.machine import cpu_extensions, cpu_kind, cpu_name

# Each suite: its name, pytest's arguments, and the command as the README shows it.
SUITES = (("the whole suite", [], "python -m pytest"),
          ("the fast inner loop", ["-m", "not slow"], 'python -m pytest -m "not slow"'))
# pytest's closing line, e.g. "448 passed, 1 skipped, 36 deselected in 247.31s (0:04:07)".
COUNTS = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?)")


def time_suite(arguments: list[str]) -> dict:
    """Run pytest with `arguments` from the repository root; its counts and wall time."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", *arguments], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    closing = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {kind.rstrip("s"): int(number) for number, kind in COUNTS.findall(closing)}
    if result.returncode != 0 or "passed" not in counts:
        raise UserError(f"pytest {' '.join(arguments)} did not pass (exit {result.returncode}: "
                        f"{closing[:200] or 'no closing line'}); fix the suite before timing it")
    return {"counts": counts, "seconds": seconds}


def minutes(seconds: float) -> str:
    """247.3 -> '4:07'."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def page(timings: dict[str, dict]) -> str:
    """benchmarks/suite-times.md."""
    rows = []
    for name, _, command in SUITES:
        counts = ", ".join(f"{number} {kind}" for kind, number in timings[name]["counts"].items())
        rows.append(f"| {name} | `{command}` | {counts} | {minutes(timings[name]['seconds'])} |")
    return "\n".join([
        "# The test suite's size and time", "",
        f"Made by `python -m captcha_cnn.perf.suite_times` on {date.today().isoformat()}: "
        f"{cpu_name()} ({cpu_kind(cpu_extensions())}), wall time of each command with the cores "
        f"otherwise idle.", "",
        "| suite | command | tests | wall time (m:ss) |", "|---|---|---|---:|", *rows, ""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "suite-times.md")
    args = parser.parse_args(argv)
    timings = {name: time_suite(arguments) for name, arguments, _ in SUITES}
    write_atomically(args.out, page(timings).encode())
    print(page(timings))


if __name__ == "__main__":
    sys.exit(run_cli(main))
