"""Configs (captcha_cnn.core.config and config_rules): defaults < experiment file < --set, bases,
strict types and ranges with one-line errors, the pairs differing only in the loss, and resuming
under a changed config."""

import re

import pytest
import yaml

from captcha_cnn.core.config import load_config, load_defaults, merge, parse_override
from captcha_cnn.core.errors import ConfigError


def write(tmp_path, text, name="experiment.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_then_experiment_then_overrides():
    defaults = load_defaults()
    config, name = load_config("buggy.yaml", ["train.steps=200", "train.learning_rate=1e-3"])
    assert name == "buggy"
    assert config["loss"]["name"] == "softmax_then_logits"  # From buggy.yaml.
    assert config["train"]["steps"] == 200  # From --set.
    assert config["train"]["learning_rate"] == 0.001
    assert config["train"]["batch_size"] == defaults["train"]["batch_size"]  # From default.yaml.


@pytest.mark.parametrize("correct_name, buggy_name", [
    ("correct.yaml", "buggy.yaml"), ("hide_correct.yaml", "hide_buggy.yaml"),
    ("fast.yaml", "fast_buggy.yaml"), ("smoke.yaml", "smoke_buggy.yaml")])
def test_each_pair_differs_only_in_the_loss(correct_name, buggy_name):
    correct, _ = load_config(correct_name)
    buggy, _ = load_config(buggy_name)
    assert (correct["loss"]["name"], buggy["loss"]["name"]) == ("logits", "softmax_then_logits")
    buggy["loss"]["name"] = "logits"
    assert correct == buggy


def test_the_default_pair_is_the_tutorials_training_setup():
    """correct.yaml is the seed's tutorial (docs/seed.md section 3), where the bug stalls."""
    config, _ = load_config("correct.yaml")
    assert config["model"]["name"] == "classic" and config["model"]["init"] == "tutorial"
    assert config["model"]["dropout"] == 0.25 and config["model"]["dense_units"] == 1024
    assert (config["train"]["optimizer"], config["train"]["learning_rate"],
            config["train"]["batch_size"]) == ("adam", 0.001, 64)
    assert config["loss"]["layout"] == "per_char"


def test_a_config_may_start_from_a_base_and_change_only_what_differs(tmp_path):
    write(tmp_path, "train: {steps: 7, batch_size: 8}\nloss: {name: logits}\n", "parent.yaml")
    child = write(tmp_path, "base: parent.yaml\nloss: {name: softmax_then_logits}\n", "child.yaml")
    grandchild = write(tmp_path, "base: child.yaml\ntrain: {steps: 9}\n", "grandchild.yaml")
    config, name = load_config(grandchild, ["train.batch_size=4"])
    assert name == "grandchild"
    assert (config["train"]["steps"], config["train"]["batch_size"]) == (9, 4)
    assert config["loss"]["name"] == "softmax_then_logits"
    assert "base" not in config
    assert load_config(child)[0]["train"]["steps"] == 7
    # A base may also be a file of configs/, as --config finds it.
    assert load_config(write(tmp_path, "base: fast.yaml\n", "mine.yaml"))[0]["model"]["name"] == "fast"


@pytest.mark.parametrize("text, message", [
    ("base: 3\n", "base: expected a config file name, got 3"),
    ("base: nowhere.yaml\n", "nowhere.yaml: config file not found"),
    ("base: experiment.yaml\n", "base: experiment.yaml leads back to"),
])
def test_bad_bases_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text))


def test_a_config_path_works_as_well_as_a_name(tmp_path):
    config, name = load_config(write(tmp_path, "train: {steps: 7}\n", "mine.yaml"))
    assert (name, config["train"]["steps"]) == ("mine", 7)


def test_string_overrides_stay_strings():
    config, _ = load_config("smoke.yaml", ["data.charset=0123456789ABCDEF", "data.length=5"])
    assert config["data"]["charset"] == "0123456789ABCDEF"
    config, _ = load_config("smoke.yaml", ["data.charset=0123456789"])
    assert config["data"]["charset"] == "0123456789"


def test_an_integer_is_accepted_where_a_number_is_expected():
    config, _ = load_config(None, ["train.learning_rate=1"])
    assert config["train"]["learning_rate"] == 1.0 and isinstance(
        config["train"]["learning_rate"], float)


@pytest.mark.parametrize("text, message", [
    ("train:\n  stepz: 5\n", r"experiment.yaml: train.stepz: unknown key"),
    ("optimiser: adam\n", r"optimiser: unknown key"),
    ("train:\n  steps: many\n", r"train.steps: expected an integer, got 'many'"),
    ("train:\n  steps: 2.5\n", r"train.steps: expected an integer"),
    ("train:\n  deterministic: 1\n", r"train.deterministic: expected a boolean"),
    ("data:\n  charset: 0123\n", r"data.charset: expected a string.*quote it"),
    ("train: 5\n", r"train: expected a mapping"),
    ("train:\n  steps: 0\n", r"train.steps: must be at least 1, got 0"),
    ("train:\n  batch_size: -4\n", r"train.batch_size: must be at least 1"),
    ("train:\n  eval_every: 0\n", r"train.eval_every: must be at least 1"),
    ("data:\n  length: 0\n", r"data.length: 0 infers it from a folder's labels, which needs "
                               r"data.source folder"),
    ("data:\n  length: -1\n", r"data.length: must be at least 1"),
    ("data:\n  charset: ''\n", r"data.charset: '' infers it from a folder's labels"),
    ("data:\n  source: disk\n", r"data.source: unknown value 'disk' \(allowed: generator, "
                                  r"folder\)"),
    ("data:\n  source: folder\n", r"data.folder: source folder needs the folder of images"),
    ("data:\n  folder: x\n", r"data.folder: 'x' is read only with data.source folder"),
    ("data:\n  test_fraction: 0.1\n", r"data.test_fraction: is for data.source folder"),
    ("data:\n  source: folder\n  folder: x\n  test_fraction: 1.0\n",
     r"data.test_fraction: must be in \[0, 1\)"),
    ("data:\n  charset: '01231'\n", r"data.charset: '01231' repeats '1'"),
    ("data:\n  width: 4\n", r"data.width: 4 is too small"),
    ("data:\n  height: 7\n", r"data.height: 7 is too small"),
    ("train:\n  learning_rate: 0\n", r"train.learning_rate: must be positive"),
    ("model:\n  name: resnet\n",
     r"model.name: unknown value 'resnet' \(allowed: classic, fast, peer\)"),
    ("model:\n  name: peer\ndata:\n  height: 16\n",
     r"data.height: 16 is too small for the peer model, which halves the image 5 times "
     r"\(minimum 32\)"),
    ("model:\n  name: fast\n  init: tutorial\n", r"model.init: 'tutorial' is the classic model's"),
    ("train:\n  schedule: onecycle\n", r"train.schedule: unknown value 'onecycle' \(allowed: "
                                      r"constant, cosine\)"),
    ("train:\n  steps: 100\n  warmup_steps: 100\n", r"train.warmup_steps: must be in \[0, "
                                                    r"train.steps 100\), got 100"),
    ("train:\n  stop_at_whole_acc: 98\n", r"train.stop_at_whole_acc: must be in \[0, 1\]"),
    ("train:\n  max_minutes: -1\n", r"train.max_minutes: must be 0 \(no limit\) or more"),
    ("train:\n  max_minutes: .nan\n", r"train.max_minutes: must be a finite number, got nan"),
    ("train:\n  warmup_steps: 10\n", r"train.warmup_steps: 10 needs train.schedule cosine"),
    ("loss:\n  name: softmax\n",
     r"loss.name: unknown value 'softmax' \(allowed: logits, softmax_then_logits, sigmoid, "
     r"sigmoid_then_logits\)"),
    ("loss:\n  layout: rows\n", r"loss.layout: unknown value 'rows' \(allowed: per_char, flat"),
    ("train:\n  optimizer: rmsprop\n", r"train.optimizer: unknown value 'rmsprop' \(allowed: adam, sgd\)"),
    ("model:\n  dropout: 1.0\n", r"model.dropout: must be in \[0, 1\)"),
    ("loss: {name: sigmoid, layout: flat_normalized}\n", r"loss.layout: flat_normalized"),
    ("loss: {name: sigmoid_then_logits, layout: flat_normalized}\n",
     r"loss.layout: flat_normalized divides .* with loss.name sigmoid_then_logits use"),
    ("loss:\n  prior_pull: -0.1\n", r"loss.prior_pull: must be 0 \(off\) or more, got -0.1"),
    ("loss: {prior_pull: 0.09, layout: flat}\n",
     r"loss.prior_pull: .* needs loss.layout per_char \(it is 'flat'\)"),
    ("train: [1, 2\n", r"experiment.yaml: malformed YAML at line"),
    ("- a\n- b\n", r"experiment.yaml: a config must be a mapping.*not list"),
])
def test_bad_configs_are_refused_naming_file_key_and_value(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_an_empty_config_file_means_all_defaults(tmp_path):
    config, _ = load_config(write(tmp_path, ""))
    assert config == load_defaults()


@pytest.mark.parametrize("override, message", [
    ("train.stepz=5", r"--set train.stepz=5: train.stepz: unknown key"),
    ("train=5", r"train: expected a mapping"),
    ("train.steps", r"expected KEY=VALUE"),
    ("train.steps=abc", r"train.steps: expected an integer, got 'abc'"),
    ("loss.name=softmax", r"loss.name: unknown value 'softmax'"),
])
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke.yaml", [override])


def test_a_missing_config_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"nosuch.yaml: config file not found.*correct.yaml"):
        load_config("nosuch.yaml")


def test_merge_does_not_modify_its_inputs():
    base = {"a": {"b": 1}}
    merged = merge(base, {"a": {"b": 2}}, "test")
    assert base == {"a": {"b": 1}} and merged == {"a": {"b": 2}}
    assert parse_override("a.b=3", base) == {"a": {"b": 3}}


def test_a_run_made_before_a_key_existed_resumes_if_the_key_is_at_its_default(tmp_path):
    import yaml

    from captcha_cnn.core.errors import UserError
    from captcha_cnn.core.run_dir import RunDir
    from captcha_cnn.train.resume import open_run_dir

    config, _ = load_config("smoke.yaml")
    older = {section: dict(values) if isinstance(values, dict) else values
             for section, values in config.items()}
    del older["train"]["precision"]  # As written by a version without train.precision.
    run = RunDir(tmp_path)
    run.config.write_text(yaml.safe_dump(older))
    assert open_run_dir(run, config, resume=True) is True
    changed, _ = load_config("smoke.yaml", ["train.precision=mixed_bfloat16"])
    with pytest.raises(UserError, match="train.precision is 'float32' in the run"):
        open_run_dir(run, changed, resume=True)


def test_every_reproduction_pair_differs_only_in_the_loss():
    from captcha_cnn.experiments.reproduce import read_plan

    for pair in read_plan("reproduce.yaml").pairs.values():
        correct_name, buggy_name = pair.configs
        correct, _ = load_config(correct_name)
        buggy, _ = load_config(buggy_name)
        assert (correct["loss"]["name"], buggy["loss"]["name"]) == ("logits", "softmax_then_logits")
        buggy["loss"]["name"] = "logits"
        assert correct == buggy, (correct_name, buggy_name)


@pytest.mark.parametrize("text, message", [
    ("pairs: {a: [correct.yaml, buggy.yaml]}\nseeds: [0]\nnotes: 5\nclaims: reproduce.yaml\n"
     "report: reproduce.yaml\n", "notes: expected a list"),
    ("pairs: {a: [correct.yaml, buggy.yaml]}\nseeds: [0]\ncomment: x\n",
     "comment: unknown key (a plan may have:"),
])
def test_reproduction_plan_errors_name_the_key(tmp_path, text, message):
    from captcha_cnn.experiments.reproduce import read_plan

    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_plan(plan)


def test_a_run_may_resume_on_other_devices_but_not_with_another_loss(tmp_path):
    from captcha_cnn.core.errors import UserError
    from captcha_cnn.core.run_dir import RunDir
    from captcha_cnn.train.resume import open_run_dir

    config, _ = load_config("smoke.yaml")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text(yaml.safe_dump(config))
    moved, _ = load_config("smoke.yaml", ["train.distribute=mirrored", "train.logical_cpus=2"])
    assert open_run_dir(run, moved, resume=True) is True
    other, _ = load_config("smoke.yaml", ["loss.name=softmax_then_logits"])
    with pytest.raises(UserError, match="loss.name is 'logits' in the run"):
        open_run_dir(run, other, resume=True)
    cluster, _ = load_config("smoke.yaml", ["train.distribute=multi_worker"])
    with pytest.raises(UserError, match="cannot move into or out of multi_worker"):
        open_run_dir(run, cluster, resume=True)


def test_a_cosine_schedule_refuses_new_steps_on_resume(tmp_path):
    from captcha_cnn.core.errors import UserError
    from captcha_cnn.core.run_dir import RunDir
    from captcha_cnn.train.resume import open_run_dir

    config, _ = load_config("smoke.yaml", ["train.schedule=cosine"])
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text(yaml.safe_dump(config))
    longer, _ = load_config("smoke.yaml", ["train.schedule=cosine", "train.steps=12"])
    with pytest.raises(UserError, match="under train.schedule cosine the steps set the schedule"):
        open_run_dir(run, longer, resume=True)
    assert open_run_dir(run, config, resume=True) is True
