"""Publishing the reproduction: each finished run's small files copied to results/runs, a figure
and the claims per pair, the studies, the map and the sweep redrawn, and REPORT.md written.

Reads runs, never trains: `python -m captcha_cnn.experiments.reproduce --publish-only` is this
alone. The phases: gather each pair's runs (copy, judge, note the machine), draw its section,
redraw the studies, then assemble the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from captcha_cnn.analysis.compare import compare
from captcha_cnn.analysis.run_reading import RunReading, read_run
from captcha_cnn.analysis.tradeoff import write_map
from captcha_cnn.analysis.tradeoff_settings import parse_settings
from captcha_cnn.core.config import find_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.run_dir import RunDir, publish_run_files
from captcha_cnn.experiments import sweep
from captcha_cnn.experiments.plans import (
    PlannedRun,
)
from captcha_cnn.experiments.report import (
    claim_table,
    flat_layout_section,
    map_line,
    pair_claims,
    pair_figure,
)
from captcha_cnn.experiments.reproduce_plan import ReproductionPlan
from captcha_cnn.model.levels import label_shape

MADE_BY = "python -m captcha_cnn.experiments.reproduce"


def study_paths(plan: ReproductionPlan, results: Path) -> dict[str, list[Path]]:
    """Each study's run folders in results/runs, every one checked to be there."""
    paths = {}
    for study in plan.studies.values():
        paths[study.name] = [Path(results) / "runs" / name for name in study.runs]
        for name, path in zip(study.runs, paths[study.name], strict=True):
            if not RunDir(path).config.is_file():
                raise ConfigError(f"{plan.path}: studies.{study.name}.runs: {name} is not a run "
                                  f"in {Path(results) / 'runs'}")
    return paths


@dataclass
class Ledger:
    """What publishing gathers from the runs on its way to REPORT.md."""

    sections: list[str] = field(default_factory=list)   # one per pair: figure and claims
    machines: set[str] = field(default_factory=set)     # device and versions of each run
    wall: dict[str, str] = field(default_factory=dict)  # run name -> its row in the run table
    judged: dict[str, dict[str, list[RunReading]]] = field(default_factory=dict)


def publish(runs: list[PlannedRun], plan: ReproductionPlan, results: Path,
            redraw: set[str] | None = None) -> Path:
    """Copy each finished run's small files to `results/runs/`, draw a figure per pair, write
    REPORT.md. Claims and figures use finished runs only (a run still training, perhaps in another
    process, would cut every curve short); unfinished runs are listed in the run table.

    `redraw` names the pairs whose figure may have changed (None: all, and also every study,
    the map and the sweep); the others keep theirs unless it is missing."""
    results = Path(results)
    (results / "runs").mkdir(parents=True, exist_ok=True)
    ledger = Ledger()
    for pair in plan.pairs.values():
        members = [run for run in runs if run.tags["pair"] == pair.name]
        groups = gather_pair(members, plan, results, ledger)
        if groups:
            ledger.sections.append(pair_section(pair, groups, members[0].config, plan, results,
                                                redraw))
    readings = read_map(plan, results)
    if redraw is None:
        publish_studies(plan, results, readings)
    report = report_text(plan, runs[0].config, ledger, readings)
    write_atomically(results / "REPORT.md", report.encode("utf-8"))
    return results / "REPORT.md"


def gather_pair(members: list[PlannedRun], plan: ReproductionPlan, results: Path,
                ledger: Ledger) -> dict[str, list[list[dict]]]:
    """A pair's finished runs: their metrics by role ({role: [rows per seed]}); each copied to
    results/runs (unless it is a published run already), judged and entered in the ledger."""
    groups: dict[str, list[list[dict]]] = {}
    for run in members:
        record = RunDir(run.dir)
        rows = record.read_metrics() if record.path.is_dir() else []
        if not rows:
            continue
        finished = record.is_finished()
        ledger.wall[run.name] = (f"| {run.name} | {rows[-1]['step']} | "
                                 f"{rows[-1]['elapsed_s'] / 60:.1f} | "
                                 f"{'yes' if finished else 'no (not in the claims)'} |")
        if not finished:
            continue
        groups.setdefault(run.tags["role"], []).append(rows)
        if not run.published:
            publish_run_files(record.path, results / "runs" / run.name)
        ledger.judged.setdefault(run.tags["pair"], {}).setdefault(run.tags["role"], []).append(
            read_run(results / "runs" / run.name, plan.claim))
        environment = record.read_environment()
        ledger.machines.add(f"{environment.get('device', 'device unknown')}; " + ", ".join(
            f"{k} {v}" for k, v in environment.get("versions", {}).items()))
    return groups


def pair_section(pair, groups: dict[str, list[list[dict]]], config: dict,
                 plan: ReproductionPlan, results: Path, redraw: set[str] | None) -> str:
    """A pair's part of the report: its figure (redrawn when asked or missing) and claims."""
    figure = results / f"{pair.name}.png"
    if redraw is None or pair.name in redraw or not figure.is_file():
        pair_figure(pair.name, groups, config, figure)
    return (f"## {pair.name}: {_setting(config)}\n\n"
            + (f"{pair.about}\n\n" if pair.about else "")
            + f"![{pair.name}]({pair.name}.png)\n\n"
            f"{pair_claims(groups, config, plan.claim, plan.wording)}")


def report_text(plan: ReproductionPlan, config: dict, ledger: Ledger, readings) -> str:
    """REPORT.md: the decision on the seed's claim, each pair, the flat layout, the studies,
    the run table and the machines."""
    data = config["data"]
    about = {pair.name: pair.about for pair in plan.pairs.values()}
    decision = [f"## {plan.wording['decision_title']}", "", plan.wording["decision"].strip(), "",
                claim_table(ledger.judged, about, plan.claim)]
    if readings is not None:
        decision.append(map_line(readings, "tradeoff/tradeoff.md"))
    report = [f"# {plan.wording['title']}", "",
              f"Made by `{MADE_BY} {plan.path}`; every number below "
              f"is read from `results/runs/*/metrics.jsonl` (held-out set: {data['test_size']} "
              f"captchas never trained on). Accuracy is per character unless it says whole "
              f"captcha.", "", *decision, *ledger.sections,
              flat_layout_section(*label_shape(config), plan.wording["flat_layout"],
                                  plan.claim.fields()),
              *studies_section(plan),
              "## Runs", "", "| run | steps | wall time (min) | finished |",
              "|---|---:|---:|---|", *ledger.wall.values(), "",
              *[f"- {note}" for note in plan.notes], "",
              "Machine and versions: " + "; ".join(sorted(ledger.machines)), ""]
    return "\n".join(report)


def _setting(config: dict) -> str:
    train, data = config["train"], config["data"]
    return (f"{train['optimizer']} learning rate {train['learning_rate']:g}, "
            f"{data['train_size']:,} training captchas, loss layout {config['loss']['layout']}")


def read_map(plan: ReproductionPlan, results: Path) -> dict[str, dict[str, list[RunReading]]]:
    """The map's runs (patterns relative to results/runs), or None if the plan has no map."""
    if plan.tradeoff is None:
        return None
    return parse_settings(plan.tradeoff, Path(results) / "runs", str(plan.path), "tradeoff",
                          plan.claim)


def publish_studies(plan: ReproductionPlan, results: Path, readings) -> None:
    """Redraw every study, the map and the sweep from the published runs: reading, no training."""
    for name, paths in study_paths(plan, results).items():
        compare(paths, results / "studies" / name, plan.studies[name].until, show=False)
    if readings is not None:
        write_map(readings, plan.claim, results / "tradeoff",
                  f"{MADE_BY} {plan.path}", plan.path)
    if plan.sweep is not None:
        grid = sweep.cells(sweep.read_sweep(find_config(plan.sweep)), results / "runs",
                           results / "runs")
        sweep.report(grid, results / "runs", results, show=False)


def studies_section(plan: ReproductionPlan) -> list[str]:
    """Where each study's figures are, and which runs they compare."""
    if not plan.studies:
        return []
    lines = ["## Studies", "", "Existing runs compared side by side, redrawn by the same command "
             "(figures and table in each folder):", "", "| study | runs |", "|---|---|"]
    for study in plan.studies.values():
        until = f" (to step {study.until})" if study.until is not None else ""
        lines.append(f"| [{study.name}](studies/{study.name}/summary.md) | "
                     f"{', '.join(study.runs)}{until} |")
    if plan.sweep is not None:
        lines += ["", f"The sweep ([sweep/sweep.md](sweep/sweep.md)) is redrawn from its published "
                  f"cells; `python -m captcha_cnn.experiments.sweep configs/{plan.sweep}` trains "
                  f"it."]
    return [*lines, ""]
