"""The seed's claim as numbers to judge runs against, read from the reproduction plan.

The seed says: with the correct loss, "after 4000 iterations the loss fell to 0.03 and accuracy
reached 98%"; with the buggy one, "5000+ iterations, the loss did not change, accuracy did not
rise". How those words become thresholds (which step, which tolerance, what "at chance" means) is
a decision, and it lives in one place: the `claims:` section of configs/reproduce.yaml. The report
(results/REPORT.md) and the map (results/tradeoff/) both judge with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from captcha_cnn.core.config import CONFIG_DIR
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.yaml_files import read_yaml
from captcha_cnn.model.levels import STALLED_FACTOR

DEFAULT_PLAN = CONFIG_DIR / "reproduce.yaml"

# The section's keys and their types. No values here: those are the plan's.
CLAIM_SCHEMA = {
    "correct": {"step": int, "accuracy": float, "loss": float, "loss_at_most": float},
    "buggy": {"from_step": int, "to_step": int, "min_steps": int, "loss_change_below": float},
}


@dataclass(frozen=True)
class SeedClaim:
    """The seed's two halves as thresholds (see the plan's `claims:` section for each reason)."""

    correct_step: int             # the step the correct run is judged at
    correct_accuracy: float       # held-out per character at that step, at least
    correct_loss: float           # the loss the seed reports at that step
    correct_loss_at_most: float   # the held-out loss that counts as the seed's
    buggy_from_step: int          # the buggy run is judged from this step...
    buggy_to_step: int            # ...to this one
    buggy_min_steps: int          # a shorter window cannot judge "5000+ iterations"
    buggy_loss_change_below: float  # "did not change": a smaller change of the held-out loss
    # "Did not rise": below this multiple of chance per character, the factor every verdict in
    # the project uses for "still at chance" (the doctor's, the sweep's).
    buggy_at_chance_below: ClassVar[float] = STALLED_FACTOR

    def stalled_level(self, chance: float) -> float:
        """Per-character accuracy below which a run is still at chance."""
        return self.buggy_at_chance_below * chance

    def fields(self) -> dict:
        """The thresholds by name, for the report's wording templates."""
        return {**vars(self), "buggy_at_chance_below": self.buggy_at_chance_below}


def parse_section(section, schema: dict, source: str, prefix: str) -> dict:
    """A mapping with exactly the schema's keys, each of its type (an int is a number too), as
    {dotted key: value}; anything else a one-line ConfigError naming the source and the key."""
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: {prefix}: expected a mapping with the keys "
                          f"{', '.join(schema)}, got {section!r}")
    unknown, missing = sorted(set(section) - set(schema), key=str), sorted(set(schema) - set(section))
    if unknown:
        raise ConfigError(f"{source}: {prefix}.{unknown[0]}: unknown key (known here: "
                          f"{', '.join(schema)})")
    if missing:
        raise ConfigError(f"{source}: {prefix}.{missing[0]}: missing")
    values = {}
    for key, kind in schema.items():
        value, dotted = section[key], f"{prefix}.{key}"
        if isinstance(kind, dict):
            values.update(parse_section(value, kind, source, dotted))
            continue
        fits = (isinstance(value, (int, float)) if kind is float else isinstance(value, kind))
        if isinstance(value, bool) or not fits:
            expected = {int: "an integer", float: "a number", str: "a string"}[kind]
            raise ConfigError(f"{source}: {dotted}: expected {expected}, got {value!r}")
        values[dotted] = float(value) if kind is float else value
    return values


def parse_claims(section, source: str) -> SeedClaim:
    """The plan's `claims:` section as a SeedClaim, checked strictly."""
    values = parse_section(section, CLAIM_SCHEMA, source, "claims")
    claim = SeedClaim(**{key.removeprefix("claims.").replace(".", "_"): value
                         for key, value in values.items()})
    if claim.buggy_to_step - claim.buggy_from_step < claim.buggy_min_steps:
        raise ConfigError(f"{source}: claims.buggy.min_steps: {claim.buggy_min_steps} is longer "
                          f"than the window from_step..to_step it judges")
    return claim


def read_claims(path: Path = DEFAULT_PLAN) -> SeedClaim:
    """The `claims:` section of a plan file (by default the reproduction's)."""
    plan = read_yaml(path)
    if "claims" not in plan:
        raise ConfigError(f"{path}: claims: missing (the seed's thresholds, as in "
                          f"configs/reproduce.yaml)")
    return parse_claims(plan["claims"], str(path))
