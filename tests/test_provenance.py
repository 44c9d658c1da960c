"""Provenance on resume: other library versions are named in a warning and each segment's
versions are recorded; another captcha release (other training data) is refused unless asked."""

import json
import shutil

import pytest

import train as train_script
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.machine import package_versions
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.resume import check_versions

FIRST = {"python": "3.12.1", "tensorflow": "2.21.0", "captcha": "0.7.1", "numpy": "2.1.0"}


def run_with(tmp_path, versions, resumed=()):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_json(run.environment, {"versions": versions, "resumed": list(resumed)})
    return run


def test_the_same_versions_say_nothing(tmp_path, capsys):
    check_versions(run_with(tmp_path, FIRST), False, now=dict(FIRST))
    assert capsys.readouterr().err == ""


def test_other_library_versions_are_named(tmp_path, capsys):
    now = {**FIRST, "tensorflow": "2.22.0", "numpy": "2.2.0"}
    check_versions(run_with(tmp_path, FIRST), False, now=now)
    err = capsys.readouterr().err
    assert "resuming under other library versions (tensorflow 2.21.0 -> 2.22.0, numpy 2.1.0 -> " \
           "2.2.0)" in err and "recorded in" in err


def test_the_last_segment_is_the_one_compared(tmp_path, capsys):
    later = {**FIRST, "tensorflow": "2.22.0"}
    run = run_with(tmp_path, FIRST, [{"step": 3, "versions": later}])
    check_versions(run, False, now=dict(later))
    assert capsys.readouterr().err == ""


def test_another_captcha_release_is_refused_unless_asked(tmp_path, capsys):
    run = run_with(tmp_path, FIRST)
    now = {**FIRST, "captcha": "0.8.0"}
    with pytest.raises(UserError, match=r"trained on captcha 0.7.1 drawings, but captcha 0.8.0 "
                                        r"is installed .* pip install 'captcha==0.7.1' .* "
                                        r"--allow-new-captcha"):
        check_versions(run, False, now=now)
    check_versions(run, True, now=now)
    assert "captcha 0.7.1 -> 0.8.0" in capsys.readouterr().err


def _copy_recorded_with(smoke_run, tmp_path, package: str, version: str) -> RunDir:
    """A copy of the smoke run whose environment.json says it ran under `package` `version`."""
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_run["run"], run.path)
    environment = json.loads(run.environment.read_text())
    environment["versions"][package] = version
    run.write_json(run.environment, environment)
    return run


def test_train_refuses_a_captcha_change_before_drawing_anything(smoke_run, tmp_path, run_main):
    run = _copy_recorded_with(smoke_run, tmp_path, "captcha", "0.0.1")
    before = run.metrics.read_bytes()
    result = run_main(train_script.main, "--run-dir", str(run.path), "--resume", "--no-progress",
                      "--set", "train.steps=9", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "trained on captcha 0.0.1 drawings" in result.stderr
    assert run.metrics.read_bytes() == before and not (tmp_path / "data").exists()


@pytest.mark.slow  # Trains three more steps.
def test_a_resume_records_its_own_versions(smoke_run, tmp_path, run_main):
    run = _copy_recorded_with(smoke_run, tmp_path, "numpy", "1.0.0")
    result = run_main(train_script.main, "--run-dir", str(run.path), "--resume", "--no-progress",
                      "--set", "train.steps=9", "--data-dir", str(smoke_run["data"]))
    assert result.returncode == 0, result.stderr
    assert f"numpy 1.0.0 -> {package_versions()['numpy']}" in result.stderr
    saved = json.loads(run.environment.read_text())
    assert saved["versions"]["numpy"] == "1.0.0"  # The first segment's record is kept,
    assert saved["resumed"][-1]["versions"] == package_versions()  # the new one is added.
