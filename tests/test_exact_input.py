"""Input is read exactly or refused: a plan's `set:` values mean what they mean in a config file,
and a run's saved config is range-checked on every read, as a new config is."""

import shutil

import pytest
import yaml
from helpers import REPO, assert_one_line_error

import evaluate
import train as train_script
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.experiments import reproduce, sweep
from captcha_cnn.experiments.plans import set_overrides

VALUES = {"data.charset": "0123", "train.learning_rate": 0.001, "doctor.stop_on": ["dead"],
          "train.deterministic": False, "train.steps": 4, "loss.name": "softmax_then_logits",
          "train.max_minutes": 1}


def test_plan_values_give_the_config_a_config_file_gives(tmp_path):
    nested = {}
    for dotted, value in VALUES.items():
        section, key = dotted.split(".")
        nested.setdefault(section, {})[key] = value
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump({"base": str(REPO / "configs" / "smoke.yaml"), **nested}))
    from_plan = load_config("smoke.yaml", set_overrides(VALUES, "plan.yaml: set"))[0]
    assert from_plan == load_config(str(path))[0]
    assert from_plan["data"]["charset"] == "0123" and from_plan["train"]["max_minutes"] == 1.0


@pytest.mark.parametrize("text, fragment", [
    ("data.charset: 0123", "data.charset: expected a string, got 83 (quote it in YAML)"),
    ("data.charset: 123", "data.charset: expected a string, got 123"),
    ("train.steps: '4'", "train.steps: expected an integer, got '4'"),
    ("train.stepz: 4", "train.stepz: unknown key"),
    ("train.deterministic: 'no'", "train.deterministic: expected a boolean"),
])
def test_plan_values_are_refused_as_a_config_file_refuses_them(text, fragment):
    with pytest.raises(ConfigError, match="^plan.yaml: set: " + fragment.replace("(", r"\(")
                       .replace(")", r"\)")):
        set_overrides(yaml.safe_load(text), "plan.yaml: set")


def test_an_octal_charset_in_a_plan_is_refused_by_both_commands(tmp_path, run_main):
    for command, plan_name in ((reproduce.main, "reproduce_smoke.yaml"),
                               (sweep.main, "sweep_smoke.yaml")):
        plan = tmp_path / plan_name
        plan.write_text((REPO / "configs" / plan_name).read_text()
                        .replace("set:\n", "set:\n  data.charset: 0123\n"))
        result = run_main(command, str(plan), "--runs", str(tmp_path / "r"), "--out",
                          str(tmp_path / "o"))
        assert_one_line_error(result, f"{plan}: set: data.charset: expected a string, got 83")


@pytest.mark.parametrize("edit, fragment", [
    (("charset: 0123456789", "charset: ''"), "data.charset: '' infers it from a folder's labels, which "
                                                 "needs data.source folder"),
    (("length: 4", "length: 0"), "data.length: 0 infers it from a folder's labels"),
    (("charset: 0123456789", "charset: '7'"), "needs at least 2 characters, got '7' (with one"),
    (("steps: 6", "steps: -1"), "train.steps: must be at least 1"),
])
def test_a_saved_config_out_of_range_is_one_line_for_every_reader(smoke_run, tmp_path, run_main,
                                                                  edit, fragment):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_run["run"], run.path)
    text = run.config.read_text()
    assert edit[0] in text
    run.config.write_text(text.replace(edit[0], edit[1]))
    for main, args in ((evaluate.main, [str(run.path), "--out", str(tmp_path / "e")]),
                       (train_script.main, ["--run-dir", str(run.path), "--resume",
                                            "--no-progress"])):
        result = run_main(main, *args)
        assert_one_line_error(result, str(run.config), fragment, "restore the file from a copy")
