"""Folder arguments (captcha_cnn.core.files.check_folder_argument): a file, a path under a file or a
dangling link given as --run-dir, --data-dir, --out or --runs is refused in one line, before any
slow work, by train.py, evaluate.py and the plans alike."""

from __future__ import annotations

import os

import pytest

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import check_folder_argument


def _folder_cases(tmp_path):
    (tmp_path / "file").write_text("mine")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    return {"file": (tmp_path / "file", "a file, not a folder"),
            "under a file": (tmp_path / "file" / "sub", "is a file, not a folder"),
            "dangling link": (tmp_path / "dangling", "a symbolic link to")}


@pytest.mark.parametrize("case", ["file", "under a file", "dangling link"])
@pytest.mark.parametrize("flag", ["--run-dir", "--data-dir"])
def test_train_refuses_a_folder_that_cannot_be_one_before_generating(tmp_path, run_main,
                                                                     case, flag):
    import train

    path, fragment = _folder_cases(tmp_path)[case]
    folders = {"--run-dir": tmp_path / "run", "--data-dir": tmp_path / "data", flag: path}
    result = run_main(train.main, "--config", "smoke.yaml", "--no-progress",
                      *[str(a) for pair in folders.items() for a in pair])
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {flag} {path}") and fragment in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    assert (tmp_path / "file").read_text() == "mine"  # Nothing a user has is overwritten.


@pytest.mark.parametrize("case", ["file", "under a file", "dangling link"])
def test_evaluate_and_the_plans_refuse_such_folders_too(tmp_path, run_main, case):
    import evaluate
    from captcha_cnn.experiments import sweep

    path, fragment = _folder_cases(tmp_path)[case]
    for main, argv, flag in ((evaluate.main, [str(tmp_path), "--out", str(path)], "--out"),
                             (sweep.main, ["sweep_smoke.yaml", "--runs", str(path),
                                           "--report-only"], "--runs")):
        result = run_main(main, *argv)
        assert result.returncode == 2 and result.stderr.startswith(f"error: {flag} {path}")
        assert fragment in result.stderr


def test_an_unwritable_parent_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UserError, match="no permission to write in"):
        check_folder_argument(locked / "run", "--run-dir")
