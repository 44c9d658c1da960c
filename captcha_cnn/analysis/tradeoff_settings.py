"""A settings file (or the plan's `tradeoff:` section): for each setting, its correct runs and its
buggy runs, as folders or glob patterns; read strictly, every run once, paired by seed.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from captcha_cnn.analysis.claims import SeedClaim
from captcha_cnn.analysis.run_reading import ROLES, RunReading, pairs, read_run
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.yaml_files import read_yaml, refuse_repeats


def read_settings(path: Path, claim: SeedClaim) -> dict[str, dict[str, list[RunReading]]]:
    """A settings file's runs: {setting: {"correct": [runs], "buggy": [runs]}}, each role's
    runs in seed order, patterns relative to the file."""
    return parse_settings(read_yaml(path).get("settings"), path.parent, str(path), "settings",
                          claim)


def parse_settings(settings, base: Path, source: str, key: str,
                   claim: SeedClaim) -> dict[str, dict[str, list[RunReading]]]:
    """The runs a settings mapping names (patterns relative to `base`); errors name `source`
    and the mapping's `key` (settings in a settings file, tradeoff in the reproduction plan)."""
    if not isinstance(settings, dict) or not settings:
        raise ConfigError(f"{source}: expected a '{key}' mapping of setting names to "
                          f"{{correct: [run folders], buggy: [run folders]}}")
    readings = {}
    for name, roles in settings.items():
        if not isinstance(roles, dict) or set(roles) != set(ROLES):
            shown = list(roles) if isinstance(roles, dict) else roles
            raise ConfigError(f"{source}: {key}.{name}: expected exactly the keys correct and "
                              f"buggy, got {shown!r}")
        readings[name] = {role: _runs_of(base, source, f"{key}.{name}.{role}", roles[role],
                                         claim) for role in ROLES}
    refuse_runs_used_twice(readings, source, key)
    return readings


def refuse_runs_used_twice(readings: dict[str, dict[str, list[RunReading]]], source: str,
                           key: str) -> None:
    """Each run folder is one point of the map, in one role of one setting: a run in two places
    (or playing both roles) would be judged as two runs, or as correct and buggy at once."""
    where: dict[Path, str] = {}
    for name, roles in readings.items():
        for role in ROLES:
            for run in roles[role]:
                where_here = f"{key}.{name}.{role}"
                folder = run.path.resolve()
                if folder in where:
                    raise ConfigError(f"{source}: {run.path} is listed in both {where[folder]} "
                                      f"and {where_here}; each run may appear once in the map")
                where[folder] = where_here
        for correct, buggy in pairs(roles):
            if correct.config == buggy.config:
                raise ConfigError(f"{source}: {key}.{name}: the correct run {correct.path} and "
                                  f"the buggy run {buggy.path} (seed {correct.seed}) have the "
                                  f"same config: one run cannot play both roles")


def _runs_of(base: Path, source: str, key: str, patterns, claim: SeedClaim) -> list[RunReading]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not (isinstance(patterns, list) and patterns
            and all(isinstance(p, str) and p.strip() for p in patterns)):
        raise ConfigError(f"{source}: {key}: expected one or more run folders or glob patterns, "
                          f"got {patterns!r}")
    runs = []
    refuse_repeats(patterns, source, key)
    for pattern in patterns:
        # os.path.join keeps an absolute pattern as it is; Path.glob refuses those.
        matches = sorted(Path(match) for match in glob.glob(os.path.join(base, pattern))
                         if Path(match).is_dir())
        if not matches:
            raise ConfigError(f"{source}: {key}: '{pattern}' matches no folder (relative to "
                              f"{base})")
        for match in matches:
            if any(run.path.resolve() == match.resolve() for run in runs):
                raise ConfigError(f"{source}: {key}: {match} is matched by more than one "
                                  f"pattern; each run may appear once")
            try:
                runs.append(read_run(match, claim))
            except UserError as error:  # Not a run, or one with no evaluation yet.
                raise ConfigError(f"{source}: {key}: '{pattern}': {error}") from None
    seeds = [run.seed for run in runs]
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ConfigError(f"{source}: {key}: more than one run of seed {repeated[0]}; "
                          f"runs are paired by seed, so each seed may appear once")
    return sorted(runs, key=lambda run: run.seed)
