"""Configs and plans that would mean something else than they say: a key written twice, a
list that repeats, one config (or one run) playing two parts. Each is refused, naming them."""

from __future__ import annotations

import pytest

from captcha_cnn.analysis import run_reading, tradeoff_settings
from captcha_cnn.analysis.claims import read_claims
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.yaml_files import read_yaml
from captcha_cnn.experiments import reproduce, sweep
from captcha_cnn.experiments.plans import PlannedRun, check_planned_runs

CLAIM = read_claims()  # The published plan's thresholds.


@pytest.mark.parametrize("text, key", [
    ("train:\n  steps: 3\ntrain:\n  batch_size: 8\n", "train"),          # a section twice
    ("data:\n  width: 48\n  width: 64\n", "width"),                       # a key twice in one
    ("seed: 0\nseed: 1\n", "seed"),
    ("model: {name: fast, name: classic}\n", "name"),                     # flow style
    ("pairs:\n  p: [a.yaml, b.yaml]\n  p: [c.yaml, d.yaml]\nseeds: [0]\n", "p"),
])
def test_a_key_written_twice_is_refused_naming_key_and_file(tmp_path, text, key):
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"twice.yaml: .*key '{key}' appears twice"):
        read_yaml(path)


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {steps: 3, batch_size: 8}\ntrain:\n  <<: *b\n  steps: 4\n")
    assert read_yaml(path)["train"] == {"steps": 4, "batch_size": 8}


def test_a_duplicate_key_in_a_set_override_is_refused():
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("smoke.yaml", ["train={steps: 3, steps: 4}"])


SWEEP = """base: smoke.yaml
losses: {losses}
seeds: {seeds}
optimizers:
{optimizers}
"""
ADAM = "  - name: adam\n    learning_rates: [0.001]\n"


@pytest.mark.parametrize("losses, seeds, optimizers, fragment", [
    ("[logits]", "[0, 1, 0]", ADAM, "seeds: 0 is listed twice"),
    ("[logits, logits]", "[0]", ADAM, "losses: 'logits' is listed twice"),
    ("[logits]", "[0]", "  - name: adam\n    learning_rates: [0.001, 1e-3]\n",
     "learning_rates: 0.001 is listed twice"),
    ("[logits]", "[0]", ADAM + ADAM, "would share the folder"),
    ("[logits]", "[0]", ADAM + "  - name: adam\n    amsgrad: false\n    learning_rates: [0.001]\n",
     "have the same config"),
    ("[logits]", "[0]", "  - name: adam\n    learning_rates: [.inf]\n", "positive finite"),
])
def test_a_sweep_that_would_count_one_run_twice_is_refused(tmp_path, run_main, losses, seeds,
                                                           optimizers, fragment):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.format(losses=losses, seeds=seeds, optimizers=optimizers))
    result = run_main(sweep.main, str(path), "--runs", str(tmp_path / "runs"), "--out",
                      str(tmp_path / "out"), "--report-only")
    assert result.returncode == 2 and fragment in result.stderr
    assert result.stderr.startswith(f"error: {path}") and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("pairs, seeds, fragment", [
    ("{p: [smoke.yaml, smoke.yaml]}", "[0]", "are the same file"),
    ("{p: [smoke.yaml, configs/smoke.yaml]}", "[0]", "are the same file"),
    ("{p: [smoke.yaml, COPY]}", "[0]", "have the same config"),
    ("{p: [smoke.yaml, smoke_buggy.yaml]}", "[1, 0, 1]", "seeds: 1 is listed twice"),
])
def test_a_reproduction_that_judges_a_run_against_itself_is_refused(tmp_path, run_main, pairs,
                                                                    seeds, fragment):
    (tmp_path / "copy.yaml").write_text("base: smoke.yaml\n")
    path = tmp_path / "plan.yaml"
    path.write_text(f"pairs: {pairs.replace('COPY', str(tmp_path / 'copy.yaml'))}\n"
                    f"seeds: {seeds}\nclaims: reproduce.yaml\nreport: reproduce.yaml\n")
    result = run_main(reproduce.main, str(path), "--runs", str(tmp_path / "runs"), "--out",
                      str(tmp_path / "out"), "--publish-only")
    assert result.returncode == 2 and fragment in result.stderr
    assert result.stderr.startswith(f"error: {path}") and result.stderr.count("\n") == 1


def test_two_pairs_may_share_configs_each_judged_on_its_own(tmp_path):
    """reproduce_smoke.yaml's two pairs use the same two configs: each pair is judged apart."""
    from captcha_cnn.core.config import find_config

    plan = reproduce.read_plan(find_config("reproduce_smoke.yaml"))
    runs = reproduce.planned_runs(plan, tmp_path / "runs", tmp_path / "results")
    check_planned_runs(runs, "reproduce_smoke.yaml", same_config_within=("pair", "seed"))  # No raise.
    names = [run.name for run in runs]
    assert len(set(names)) == len(names) == 2 * 2 * 2  # Pairs x roles x seeds, one folder each.
    for pair in ("stall", "hide"):
        for seed in (0, 1):
            correct, buggy = (next(run for run in runs if run.tags == {"pair": pair, "role": role,
                                                                       "seed": seed})
                              for role in ("correct", "buggy"))
            assert correct.config["loss"]["name"] == "logits"
            assert buggy.config["loss"]["name"] == "softmax_then_logits"


def test_planned_runs_sharing_a_folder_are_refused(tmp_path):
    config = load_config("smoke.yaml")[0]
    runs = [PlannedRun("a", config, tmp_path / "x"),
            PlannedRun("b", load_config("smoke.yaml", ["seed=1"])[0], tmp_path / "y" / ".." / "x")]
    with pytest.raises(ConfigError, match="a and b would share the folder"):
        check_planned_runs(runs, "plan.yaml")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A correct and a buggy smoke run of one seed, and a copy of the correct one."""
    import shutil

    from captcha_cnn.train.loop import train

    folder, data = tmp_path_factory.mktemp("map"), tmp_path_factory.mktemp("data")
    for name, config in (("correct", "smoke.yaml"), ("buggy", "smoke_buggy.yaml")):
        train(load_config(config, ["train.steps=3"])[0], name, folder / name, data_dir=data,
              progress=False)
    shutil.copytree(folder / "correct", folder / "copy")
    return folder


@pytest.mark.parametrize("settings, fragment", [
    ("s: {correct: correct, buggy: correct}", "correct is listed in both settings.s.correct "
                                              "and settings.s.buggy"),
    ("s: {correct: correct, buggy: copy}", "have the same config: one run cannot play both"),
    ("s: {correct: [correct, correct], buggy: buggy}", "'correct' is listed twice"),
    ("s: {correct: [correct, 'corr*'], buggy: buggy}", "matched by more than one pattern"),
    ("{s: {correct: correct, buggy: buggy}, t: {correct: correct, buggy: buggy}}",
     "listed in both settings.s.correct and settings.t.correct"),
])
def test_the_map_refuses_a_run_used_twice(two_runs, settings, fragment):
    path = two_runs / "settings.yaml"
    path.write_text(f"settings: {settings if settings.startswith('{') else '{' + settings + '}'}\n")
    with pytest.raises(ConfigError, match="settings.yaml") as raised:
        tradeoff_settings.read_settings(path, CLAIM)
    assert fragment in str(raised.value)


def test_the_map_reads_a_correct_and_a_buggy_run(two_runs):
    path = two_runs / "settings.yaml"
    path.write_text("settings: {s: {correct: correct, buggy: buggy}}\n")
    assert len(run_reading.pairs(tradeoff_settings.read_settings(path, CLAIM)["s"])) == 1
