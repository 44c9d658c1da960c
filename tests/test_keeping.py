"""Nothing finished is redone or emptied: a run that once had a checkpoint and has no usable one
left is refused on --resume, whatever else it holds, and the refusal changes no file."""

import shutil

import pytest

import train as train_script
from captcha_cnn.core.run_dir import RunDir, publish_run_files


def snapshot(path):
    """Every file under `path` with its bytes: what a refusal must leave exactly as it was."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture
def finished(smoke_run, tmp_path):
    """A private copy of the finished smoke run (6 steps, checkpoints at 3 and 6)."""
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_run["run"], run.path)
    return run


def resume(run_main, run, data_dir, *overrides):
    sets = [arg for key in overrides for arg in ("--set", key)]
    return run_main(train_script.main, "--run-dir", str(run.path), "--resume", "--no-progress",
                    "--data-dir", str(data_dir), *sets)


def assert_refused(result, run, before, *fragments):
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in ("nothing was changed", "Restore a checkpoint", "NEW_DIR", *fragments):
        assert fragment in errors[0], errors[0]
    assert snapshot(run.path) == before


def test_a_finished_run_without_checkpoints_is_refused_not_retrained(finished, run_main,
                                                                     tmp_path):
    """The reported case: checkpoints/ deleted to save space, then more steps asked for."""
    shutil.rmtree(finished.checkpoints)
    before = snapshot(finished.path)
    result = resume(run_main, finished, tmp_path / "data", "train.steps=9")
    assert_refused(result, finished, before, "a finished run (summary.json, 3 metric rows)",
                   "but no checkpoint")
    assert not (tmp_path / "data").exists()  # Refused before any data was generated.


def test_a_finished_run_whose_checkpoints_are_all_damaged_is_refused(finished, run_main,
                                                                     tmp_path):
    for path in finished.checkpoint_paths():
        path.write_bytes(b"not an npz")
    before = snapshot(finished.path)
    result = resume(run_main, finished, tmp_path / "data", "train.steps=9")
    assert_refused(result, finished, before, "no readable checkpoint with finite weights (2 damaged)")


def test_an_unfinished_run_with_rows_past_its_first_checkpoint_is_refused(finished, run_main,
                                                                          tmp_path):
    """Killed after its last checkpoint (no summary), then its checkpoints lost."""
    finished.summary.unlink()
    shutil.rmtree(finished.checkpoints)
    before = snapshot(finished.path)
    result = resume(run_main, finished, tmp_path / "data")
    assert_refused(result, finished, before, "3 metric rows through step 6")


def test_a_published_copy_is_read_only_to_train(finished, run_main, tmp_path):
    """What results/runs holds (config, metrics, environment, summary) is refused both ways."""
    published = RunDir(tmp_path / "results" / "runs" / "run")
    publish_run_files(finished.path, published.path)
    before = snapshot(published.path)
    result = resume(run_main, published, tmp_path / "data", "train.steps=9")
    assert_refused(result, published, before, "a finished run")
    again = run_main(train_script.main, "--config", str(published.config), "--run-dir",
                     str(published.path), "--no-progress")
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert snapshot(published.path) == before


def test_a_finished_run_without_checkpoints_that_is_done_is_only_read(finished, run_main,
                                                                      tmp_path):
    shutil.rmtree(finished.checkpoints)
    before = snapshot(finished.path)
    result = resume(run_main, finished, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "already finished 6 steps; nothing to do" in result.stdout
    assert snapshot(finished.path) == before


@pytest.mark.slow  # Trains the 6 steps again.
def test_a_run_killed_before_its_first_checkpoint_starts_again(finished, run_main,
                                                              shared_data_dir):
    """Its only row (step 0) is one the same seed recomputes exactly: nothing is lost."""
    rows = finished.metrics.read_text().splitlines()
    finished.metrics.write_text(rows[0] + "\n")
    finished.summary.unlink()
    shutil.rmtree(finished.checkpoints)
    for name in ("model.keras", "export"):
        shutil.rmtree(finished.path / name) if (finished.path / name).is_dir() \
            else (finished.path / name).unlink()
    result = resume(run_main, finished, shared_data_dir)
    assert result.returncode == 0, result.stderr
    assert [row["step"] for row in finished.read_metrics()] == [0, 3, 6]


def test_a_run_directory_is_not_a_place_for_figures(finished, run_main):
    import evaluate

    before = snapshot(finished.path)
    result = run_main(evaluate.main, str(finished.path), "--out", str(finished.path))
    assert result.returncode == 2 and "a run directory (it holds config.yaml)" in result.stderr
    assert snapshot(finished.path) == before
