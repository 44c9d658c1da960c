"""Every name that becomes a folder (a run from a config's name, a plan's pair, study and published
run names, a sweep's optimizer, loss and extra settings) passes one check, so no command writes
outside the folder it was given; and a plan's folders cannot overlap."""

import pytest
from helpers import REPO, assert_one_line_error

from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.names import MAX_NAME_LENGTH, checked_name
from captcha_cnn.experiments import reproduce, sweep

SMOKE_PLAN = (REPO / "configs" / "reproduce_smoke.yaml").read_text()
SMOKE_SWEEP = (REPO / "configs" / "sweep_smoke.yaml").read_text()


@pytest.mark.parametrize("name", ["../../x", "/etc", "a/b", "..", ".", ".hidden", "-rf", "",
                                  "with space", "tab\tname", "ünï", "a\\b", "x\n", 5, None,
                                  "a" * (MAX_NAME_LENGTH + 1)])
def test_a_name_that_is_not_one_plain_folder_is_refused(name):
    with pytest.raises(ConfigError, match=r"^plan.yaml: pairs: .*(cannot be a folder name|"
                                          r"at most)"):
        checked_name(name, "plan.yaml: pairs")


@pytest.mark.parametrize("name", ["stall", "hide100k", "a.b_c-1", "0", "a" * MAX_NAME_LENGTH])
def test_plain_names_pass(name):
    assert checked_name(name, "anywhere") == name


def test_a_very_long_bad_name_is_shown_short():
    with pytest.raises(ConfigError) as raised:
        checked_name("../" * 10000, "plan.yaml: pairs")
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize("old, new, where", [
    ("  stall: [smoke.yaml", "  ../../x: [smoke.yaml", "pairs: '../../x'"),
    ("  hide: [smoke.yaml, smoke_buggy.yaml]",
     "  hide: {configs: [smoke.yaml, smoke_buggy.yaml], published: {correct: [../up]}}",
     "pairs.hide.published.correct: '../up'"),
    ("notes:", "studies:\n  ../fig: {runs: [a]}\nnotes:", "studies: '../fig'"),
    ("notes:", "studies:\n  fig: {runs: [/abs]}\nnotes:", "studies.fig.runs: '/abs'"),
])
def test_a_plan_name_that_escapes_is_refused_before_anything(tmp_path, run_main, old, new,
                                                             where):
    plan = tmp_path / "plan.yaml"
    plan.write_text(SMOKE_PLAN.replace(old, new))
    result = run_main(reproduce.main, str(plan), "--runs", str(tmp_path / "r"), "--out",
                      str(tmp_path / "o"), "--publish-only")
    assert_one_line_error(result, f"{plan}: {where} cannot be a folder name")
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()
    assert not (tmp_path.parent / "x").exists()


def test_a_pair_with_no_run_at_all_is_refused(tmp_path, run_main):
    plan = tmp_path / "plan.yaml"
    plan.write_text(SMOKE_PLAN.replace("seeds: [0, 1]", "seeds: []"))
    result = run_main(reproduce.main, str(plan), "--runs", str(tmp_path / "r"), "--out",
                      str(tmp_path / "o"))
    assert_one_line_error(result, "pairs.stall: no run at all: its seeds are [] and it lists "
                                  "no published run")


@pytest.mark.parametrize("old, new, fragment", [
    ("name: sgd", "name: ../../sgd", "optimizers: name: '../../sgd' cannot be a folder name"),
    ("name: sgd", "name: 5", "optimizers: name 5: expected an optimizer's name (adam or sgd)"),
    ("momentum: 0.9", "momentum: /x", "optimizers: sgd: momentum: 'momentum/x' cannot be"),
    ("losses: [logits,", "losses: [../logits,", "losses: '../logits' cannot be a folder"),
])
def test_a_sweep_name_that_escapes_is_refused(tmp_path, run_main, old, new, fragment):
    path = tmp_path / "sweep.yaml"
    path.write_text(SMOKE_SWEEP.replace(old, new))
    result = run_main(sweep.main, str(path), "--runs", str(tmp_path / "r"), "--out",
                      str(tmp_path / "o"), "--report-only")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("runs", ["o", "o/runs", "o/anything/deeper"])
@pytest.mark.parametrize("main, plan", [(sweep.main, "configs/sweep_smoke.yaml"),
                                        (reproduce.main, "configs/reproduce_smoke.yaml")])
def test_runs_inside_out_is_refused_before_training(tmp_path, run_main, runs, main, plan):
    result = run_main(main, plan, "--runs", str(tmp_path / runs), "--out", str(tmp_path / "o"))
    assert_one_line_error(result, f"--runs {tmp_path / runs} is inside --out {tmp_path / 'o'}")
    assert not (tmp_path / "o").exists()
