"""The reproduction plan (configs/reproduce.yaml), read and checked before anything happens.

A plan names the pairs to train and judge (each a correct and a buggy config, trained for its
seeds, plus runs published before under other names), the studies (existing runs compared side by
side, never trained), the map's settings, the sweep to redraw, the seed's claim as thresholds, and
the report's wording. Every key is checked: an unknown key, a missing one or a value of the wrong
type is a one-line ConfigError naming the file and the dotted key, as for experiment configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from captcha_cnn.analysis.claims import SeedClaim, parse_claims, parse_section
from captcha_cnn.core.config import find_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.names import checked_name
from captcha_cnn.core.yaml_files import read_yaml, refuse_repeats
from captcha_cnn.experiments.plans import read_plan_file, refuse_same_file_pairs, set_overrides

REPRODUCE_KEYS = {"pairs", "seeds", "set", "notes", "claims", "report", "studies", "tradeoff",
                  "sweep"}
REQUIRED_KEYS = {"pairs", "seeds", "claims", "report"}
PAIR_KEYS = {"configs", "about", "seeds", "set", "published"}
ROLES = ("correct", "buggy")
STUDY_KEYS = {"runs", "until"}
# The report's wording: the rows' templates are filled with the claim's thresholds by name.
REPORT_SCHEMA = {
    "title": str, "decision_title": str, "decision": str, "stalled": str, "hides": str,
    "rows": {"correct_loss": str, "correct_accuracy": str, "buggy_loss": str,
             "buggy_accuracy": str},
    "flat_layout": str,
}
# The flat layout section's template is filled when the report is written, with what the fused
# op gives then (these names, example values) as well as the thresholds.
FLAT_LAYOUT_FIELDS = {"width": 40, "length": 4, "table": "| ... |", "floor": 5.545, "row_sum": -3}


@dataclass(frozen=True)
class Pair:
    """A correct and a buggy config judged together, with the runs that stand for them."""

    name: str
    configs: tuple[str, str]      # (correct config, buggy config)
    about: str                    # what the pair shows, one sentence for the report
    seeds: list[int]              # trained by the plan as <pair>_<role>-seed<N>
    overrides: list[str]          # the plan's `set`, then the pair's own
    published: dict[str, list[str]] = field(default_factory=dict)  # role: run names, never trained


@dataclass(frozen=True)
class Study:
    """Existing runs compared side by side (evaluate.py's figures and table), never trained."""

    name: str
    runs: list[str]
    until: int | None = None


@dataclass(frozen=True)
class ReproductionPlan:
    path: Path
    pairs: dict[str, Pair]
    seeds: list[int]
    notes: list[str]
    claim: SeedClaim
    wording: dict[str, str]       # REPORT_SCHEMA's keys, dotted, the rows filled in
    studies: dict[str, Study]
    tradeoff: dict | None         # the map's settings, patterns relative to results/runs
    sweep: str | None             # the sweep file whose published cells are redrawn

    def all_seeds(self) -> list[int]:
        return sorted({seed for pair in self.pairs.values() for seed in pair.seeds})


def read_plan(path: Path) -> ReproductionPlan:
    """The plan file, every section checked."""
    plan = read_plan_file(path, REPRODUCE_KEYS, REQUIRED_KEYS)
    seeds = _seeds(plan["seeds"], path, "seeds")
    shared = set_overrides(plan.get("set"), f"{path}: set")
    if not isinstance(plan["pairs"], dict) or not plan["pairs"]:
        raise ConfigError(f"{path}: pairs: expected a mapping of pair names to "
                          f"[correct config, buggy config] or {{configs: [...], ...}}")
    pairs = {name: _pair(name, entry, seeds, shared, path)
             for name, entry in plan["pairs"].items()}
    notes = plan.get("notes") or []
    if not (isinstance(notes, list) and all(isinstance(note, str) for note in notes)):
        raise ConfigError(f"{path}: notes: expected a list of sentences for the report, "
                          f"got {notes!r}")
    claim = parse_claims(_section(plan, "claims", path), str(path))
    wording = parse_section(_section(plan, "report", path), REPORT_SCHEMA, str(path), "report")
    measured_later = {"report.flat_layout": FLAT_LAYOUT_FIELDS}
    for key, template in wording.items():
        fields = {**claim.fields(), **measured_later.get(key, {})}
        try:
            template.format(**fields)
        except (KeyError, ValueError, IndexError) as error:
            raise ConfigError(f"{path}: {key}: cannot fill {template!r} ({error}; known: "
                              f"{', '.join(fields)})") from None
    wording = {key.removeprefix("report."): template if key in measured_later
               else template.format(**claim.fields()) for key, template in wording.items()}
    studies = {name: _study(name, entry, path)
               for name, entry in (plan.get("studies") or {}).items()}
    tradeoff = plan.get("tradeoff")
    if tradeoff is not None and not isinstance(tradeoff, dict):
        raise ConfigError(f"{path}: tradeoff: expected a mapping of setting names to "
                          f"{{correct: [runs], buggy: [runs]}}")
    sweep = plan.get("sweep")
    if sweep is not None and not isinstance(sweep, str):
        raise ConfigError(f"{path}: sweep: expected a sweep file name, got {sweep!r}")
    return ReproductionPlan(Path(path), pairs, seeds, notes, claim, wording, studies, tradeoff,
                            sweep)


def _section(plan: dict, key: str, path: Path):
    """A section given in place, or as the name of another plan file whose section it takes
    (the smoke plan judges with the real plan's claims and words)."""
    section = plan[key]
    if isinstance(section, str):
        other = read_yaml(find_config(section))
        if key not in other:
            raise ConfigError(f"{path}: {key}: {section} has no {key} section")
        section = other[key]
    return section


def _seeds(seeds, path: Path, key: str) -> list[int]:
    if not (isinstance(seeds, list) and all(isinstance(seed, int) and not isinstance(seed, bool)
                                            for seed in seeds)):
        raise ConfigError(f"{path}: {key}: expected a list of integers, got {seeds!r}")
    refuse_repeats(seeds, path, key)
    return seeds


def _pair(name: str, entry, seeds: list[int], shared: list[str], path: Path) -> Pair:
    checked_name(name, f"{path}: pairs")  # Its runs and figure are named after it.
    key = f"pairs.{name}"
    if isinstance(entry, list):  # The short form: [correct config, buggy config].
        entry = {"configs": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {key}: expected [correct config, buggy config] or a "
                          f"mapping with configs, got {entry!r}")
    unknown = sorted(set(entry) - PAIR_KEYS, key=str)
    if unknown:
        raise ConfigError(f"{path}: {key}.{unknown[0]}: unknown key (known here: "
                          f"{', '.join(sorted(PAIR_KEYS))})")
    configs = entry.get("configs")
    if not (isinstance(configs, list) and len(configs) == 2
            and all(isinstance(config, str) for config in configs)):
        raise ConfigError(f"{path}: {key}.configs: expected [correct config, buggy config], "
                          f"got {configs!r}")
    about = entry.get("about", "")
    if not isinstance(about, str):
        raise ConfigError(f"{path}: {key}.about: expected a sentence, got {about!r}")
    own_set = entry.get("set") or {}
    if not isinstance(own_set, dict):
        raise ConfigError(f"{path}: {key}.set: expected a mapping of KEY: VALUE")
    published = entry.get("published") or {}
    if not isinstance(published, dict) or not set(published) <= set(ROLES):
        raise ConfigError(f"{path}: {key}.published: expected a mapping of correct and buggy "
                          f"to lists of run names in results/runs, got {published!r}")
    for role, names in published.items():
        if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names)):
            raise ConfigError(f"{path}: {key}.published.{role}: expected a list of run names, "
                              f"got {names!r}")
    refuse_same_file_pairs({name: configs}, path)
    for role, names in published.items():
        refuse_repeats(names, path, f"{key}.published.{role}")
        for run_name in names:
            checked_name(run_name, f"{path}: {key}.published.{role}")
    pair_seeds = _seeds(entry["seeds"], path, f"{key}.seeds") if "seeds" in entry else seeds
    if not pair_seeds and not any(published.values()):
        raise ConfigError(f"{path}: {key}: no run at all: its seeds are [] and it lists no "
                          f"published run; give it a seed to train or a published run to read")
    return Pair(name, (configs[0], configs[1]), about, pair_seeds,
                [*shared, *set_overrides(own_set, f"{path}: {key}.set")], published)


def _study(name: str, entry, path: Path) -> Study:
    checked_name(name, f"{path}: studies")  # Its figures go to results/studies/<name>.
    key = f"studies.{name}"
    if not isinstance(entry, dict) or not set(entry) <= STUDY_KEYS or "runs" not in entry:
        raise ConfigError(f"{path}: {key}: expected {{runs: [run names]}} with an optional "
                          f"until: STEP, got {entry!r}")
    runs, until = entry["runs"], entry.get("until")
    if not (isinstance(runs, list) and runs and all(isinstance(r, str) and r for r in runs)):
        raise ConfigError(f"{path}: {key}.runs: expected a list of run names, got {runs!r}")
    for run_name in runs:
        checked_name(run_name, f"{path}: {key}.runs")
    if until is not None and (isinstance(until, bool) or not isinstance(until, int)):
        raise ConfigError(f"{path}: {key}.until: expected a step (an integer), got {until!r}")
    return Study(name, runs, until)
