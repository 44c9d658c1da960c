"""Comparing finished (or running) runs: the curves, the unit-health figure and the table."""

from __future__ import annotations

from pathlib import Path

from captcha_cnn.analysis.plots import has_unit_health, plot_runs, plot_unit_health
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.doctor.runs import diagnose_rows
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels


def load_run(path: Path) -> dict:
    """A run's config, metrics rows and reference levels; a clear error if `path` is not a run."""
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not a run directory (no config.yaml)")
    config = run.read_config()
    environment = run.read_environment()
    rows = run.read_metrics()
    if not rows:
        raise UserError(f"{run.metrics}: no evaluation rows yet (the run has not reached its "
                        f"first train.eval_every step)")
    return {"path": run.path, "label": run.path.name, "config": config, "rows": rows,
            "finished": run.is_finished(), "device": environment.get("device", "unknown"),
            "environment": environment,
            "loss_levels": config_loss_levels(config), "chance": config_chance_levels(config)}


def summary_table(runs: list[dict]) -> str:
    """Markdown table: each run's last and best held-out numbers."""
    lines = ["| run | loss | layout | optimizer | steps | test loss | per-char acc | whole acc "
             "| best per-char | best whole | loss floor | minutes | finished | doctor |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for run in runs:
        last, train = run["rows"][-1], run["config"]["train"]
        verdict = diagnose_rows(run["config"], run["rows"])[-1]
        lines.append(
            f"| {run['label']} | {run['config']['loss']['name']} | "
            f"{run['config']['loss']['layout']} | {train['optimizer']} {train['learning_rate']:g} | "
            f"{last['step']} | {last['test_loss']:.3f} | {last['test_char_acc']:.3f} | "
            f"{last['test_whole_acc']:.3f} | "
            f"{max(r['test_char_acc'] for r in run['rows']):.3f} | "
            f"{max(r['test_whole_acc'] for r in run['rows']):.3f} | "
            f"{run['loss_levels']['floor']:.3f} | {last['elapsed_s'] / 60:.1f} | "
            f"{'yes' if run['finished'] else 'no'} | {verdict.kind} since {verdict.step:,} |")
    return "\n".join(lines) + "\n"


def compare(run_paths: list[Path], out: Path, until: int | None = None,
            show: bool = True) -> list[Path]:
    """Plot the runs side by side and write their table (and print it if `show`); return the
    paths written: the curves, the table and, for runs that logged unit health, units.png. With
    `until`, only evaluations up to that step count (to compare runs of different lengths)."""
    runs = [load_run(path) for path in run_paths]
    if until is not None:
        for run in runs:
            run["rows"] = [row for row in run["rows"] if row["step"] <= until]
            if not run["rows"]:
                raise UserError(f"--until {until}: {run['path']} has no evaluation by step "
                                f"{until}")
    labels = [run["label"] for run in runs]
    if len(set(labels)) < len(labels):  # Two runs/…/correct folders: use the longer paths.
        for run in runs:
            run["label"] = str(run["path"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure, table_path = out / "curves.png", out / "summary.md"
    plot_runs(runs, figure)
    written = [figure, table_path]
    if any(has_unit_health(run["rows"]) for run in runs):
        written.append(out / "units.png")
        plot_unit_health(runs, written[-1])
    table = summary_table(runs)
    devices = sorted({run["device"] for run in runs})
    span = f"up to step {until}" if until is not None else "over the run"
    write_atomically(table_path, (f"Held-out numbers at the last evaluation and the best {span}"
                                  f". Device: {'; '.join(devices)}.\n\n{table}").encode())
    if show:
        print(table)
    return written
