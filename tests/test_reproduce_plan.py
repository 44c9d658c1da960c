"""The reproduction plan: its claims and wording checked strictly, every run it names committed,
and the judgments of REPORT.md pinned on the committed runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from captcha_cnn.analysis.claims import read_claims
from captcha_cnn.analysis.run_reading import read_run
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.experiments import publish, reproduce
from captcha_cnn.experiments.report import claim_table, pair_claims
from captcha_cnn.experiments.reproduce_plan import read_plan

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "configs" / "reproduce.yaml"
RESULTS = ROOT / "results"


@pytest.fixture(scope="module")
def plan():
    return read_plan(PLAN)


@pytest.fixture(scope="module")
def pair_runs(plan):
    """{pair: {role: [RunReading]}} of the committed runs, as publish() judges them."""
    runs = reproduce.planned_runs(plan, ROOT / "runs" / "not-here", RESULTS)
    judged: dict = {}
    for run in runs:
        assert run.published, f"{run.name} is not committed in results/runs"
        judged.setdefault(run.tags["pair"], {}).setdefault(run.tags["role"], []).append(
            read_run(run.dir, plan.claim))
    return judged


def plan_text(**changes) -> str:
    """The real plan with some sections replaced (None: removed)."""
    plan = yaml.safe_load(PLAN.read_text())
    for key, value in changes.items():
        if value is None:
            plan.pop(key)
        else:
            plan[key] = value
    return yaml.safe_dump(plan)


def claims_with(role: str, key: str, value) -> dict:
    claims = yaml.safe_load(PLAN.read_text())["claims"]
    claims[role] = {**claims[role], key: value}
    return claims


def report_with(key: str, value) -> dict:
    report = yaml.safe_load(PLAN.read_text())["report"]
    report[key] = value
    return report


@pytest.mark.parametrize("changes, message", [
    ({"claims": claims_with("correct", "steps", 4000)},
     "claims.correct.steps: unknown key (known here: step, accuracy, loss, loss_at_most)"),
    ({"claims": claims_with("correct", "step", "4000")},
     "claims.correct.step: expected an integer, got '4000'"),
    ({"claims": claims_with("buggy", "loss_change_below", True)},
     "claims.buggy.loss_change_below: expected a number, got True"),
    ({"claims": claims_with("buggy", "min_steps", 9000)},
     "claims.buggy.min_steps: 9000 is longer than the window"),
    ({"claims": {"correct": {}}}, "claims.buggy: missing"),
    ({"claims": None}, "claims: missing (a plan needs:"),
    ({"report": report_with("verdict", "x")}, "report.verdict: unknown key"),
    ({"report": report_with("title", 3)}, "report.title: expected a string, got 3"),
    ({"report": report_with("rows", {"correct_loss": "x"})}, "report.rows.buggy_accuracy: missing"),
    ({"report": report_with("stalled", "at {chance}")},
     "report.stalled: cannot fill 'at {chance}' ('chance'; known: "),
    ({"report": report_with("flat_layout", "sums to {row_total}")},
     "report.flat_layout: cannot fill 'sums to {row_total}' ('row_total'; known: "),
    ({"studies": {"s": {"runs": ["a"], "until": "1000"}}},
     "studies.s.until: expected a step (an integer), got '1000'"),
    ({"studies": {"s": {"run": ["a"]}}}, "studies.s: expected {runs: [run names]}"),
    ({"pairs": {"p": {"configs": ["correct.yaml", "buggy.yaml"], "seed": [0]}}},
     "pairs.p.seed: unknown key"),
    ({"pairs": {"p": {"configs": ["correct.yaml", "buggy.yaml"], "published": {"wrong": []}}}},
     "pairs.p.published: expected a mapping of correct and buggy"),
])
def test_a_bad_plan_is_one_line_naming_the_file_and_key(tmp_path, changes, message):
    path = tmp_path / "plan.yaml"
    path.write_text(plan_text(**changes))
    with pytest.raises(ConfigError) as error:
        read_plan(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_claims_are_the_seeds_words(plan):
    """4,000 steps, 98%, loss 0.03; the buggy run judged from step 1,000 to 6,000 below 1.5x
    chance: 15% per character for digits."""
    claim = plan.claim
    assert (claim.correct_step, claim.correct_accuracy, claim.correct_loss) == (4000, 0.98, 0.03)
    assert (claim.buggy_from_step, claim.buggy_to_step) == (1000, 6000)
    assert claim.stalled_level(0.1) == pytest.approx(0.15)
    assert read_claims() == claim  # The map reads the same section.
    assert plan.wording["rows.correct_accuracy"] == "correct: 98% accuracy after 4000 steps"


def test_the_plan_names_only_committed_runs(plan):
    named = {name for study in plan.studies.values() for name in study.runs}
    named |= {name for pair in plan.pairs.values() for names in pair.published.values()
              for name in names}
    missing = sorted(name for name in named if not (RESULTS / "runs" / name / "config.yaml").is_file())
    assert missing == []
    assert publish.study_paths(plan, RESULTS)  # Checks them again, as the command does.


def test_a_published_run_missing_from_results_is_named(tmp_path):
    path = tmp_path / "plan.yaml"
    pairs = {"stall": {"configs": ["correct.yaml", "buggy.yaml"], "seeds": [],
                       "published": {"buggy": ["stall_buggy-seed4"]}}}  # Never run.
    path.write_text(plan_text(pairs=pairs))
    with pytest.raises(ConfigError, match=re.escape(
            f"{path}: pairs.stall.published.buggy: stall_buggy-seed4 is not a run in")):
        reproduce.planned_runs(read_plan(path), tmp_path / "runs", RESULTS)


def test_every_seed_run_for_each_pair_is_in_the_report(pair_runs):
    seeds = {pair: {role: [run.seed for run in runs] for role, runs in roles.items()}
             for pair, roles in pair_runs.items()}
    assert seeds == {"stall": {"correct": [0, 1, 2, 3, 4, 5], "buggy": [0, 1, 2, 3, 5]},
                     "hide": {"correct": [0, 1, 2], "buggy": [0, 1, 2]},
                     "hide100k": {"correct": [0, 1, 2], "buggy": [0, 1, 2]}}


def test_the_claims_judged_on_the_committed_runs(plan, pair_runs):
    """The decision on the seed's claim, as measured: the stall pair's buggy run at chance in 5 of
    5 seeds and its correct run leaving chance in 5 of 6; the hide pair on 100,000 captchas at 98%
    by step 4,000 in 3 of 3 while its buggy run hides; no pair gives both halves in one seed."""
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[2:]
            for line in claim_table(pair_runs, {}, plan.claim).splitlines()[2:]}
    # Columns: correct leaves chance, correct at 98% at 4,000, buggy at chance, both.
    assert rows["stall"] == ["5 of 6", "0 of 6", "5 of 5", "0 of 5 |"]
    assert rows["hide"] == ["3 of 3", "0 of 3", "0 of 3", "0 of 3 |"]
    assert rows["hide100k"] == ["3 of 3", "3 of 3", "0 of 3", "0 of 3 |"]


def test_the_committed_report_is_the_one_the_plan_makes():
    report = (RESULTS / "REPORT.md").read_text()
    assert "| stall | " in report and "| 5 of 6 | 0 of 6 | 5 of 5 | 0 of 5 |" in report
    assert "| hide100k | " in report and "| 3 of 3 | 3 of 3 | 0 of 3 | 0 of 3 |" in report
    assert "both halves in 0 of the 17 seeds whose two runs can be judged, over 5 settings" \
        in report
    for name in ("stall_correct-seed5", "stall_buggy-seed5", "hide100k_buggy-seed2"):
        assert f"| {name} | " in report


def synthetic_rows(accuracies: dict[int, float]) -> list[dict]:
    """Metrics rows of a run that logged these held-out accuracies per character at these steps."""
    return [{"step": step, "test_char_acc": accuracy, "test_whole_acc": accuracy ** 4,
             "test_loss": 2.3, "train_loss": 2.3} for step, accuracy in accuracies.items()]


def test_a_buggy_run_that_rose_after_step_1000_has_not_stalled_even_if_it_fell_back(plan):
    """The seed's "accuracy did not rise" is judged on the best evaluation from step 1000 on, so a
    run that climbed to 30% and fell back to chance by its last step is not called stalled."""
    config, _ = load_config("smoke.yaml")
    config["data"].update(charset="0123456789", length=4)
    flat = synthetic_rows({500: 0.10, 1000: 0.10, 3000: 0.11, 6000: 0.10})
    rose = synthetic_rows({500: 0.10, 1000: 0.10, 3000: 0.30, 6000: 0.10})
    stalled = pair_claims({"buggy": [flat, flat]}, config, plan.claim, plan.wording)
    assert "| (buggy: best per character from step 1000 on, per seed) | 0.110, 0.110 | |" in stalled
    assert stalled.count("yes (stalled at chance)") == 1
    risen = pair_claims({"buggy": [flat, rose]}, config, plan.claim, plan.wording)
    assert "| 0.110, 0.300 | |" in risen and "stalled at chance" not in risen
