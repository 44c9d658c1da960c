"""Damaged run and data files: a reader never stops silently at a bad line, a resume never drops
a valid row, and every damaged file is a one-line error naming it before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.core.run_files import DamagedRunFile, read_metric_rows
from captcha_cnn.train.loop import train

ROW = {"step": 3, "train_loss": 2.3, "test_loss": 2.3, "test_char_acc": 0.1,
       "test_whole_acc": 0.0, "elapsed_s": 1.0, "eval_s": 0.1}


def row(step: int, **changes) -> str:
    return json.dumps({**ROW, "step": step, **changes})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished smoke run of 6 steps (rows at 3 and 6, checkpoints at 3 and 6), copied by
    each test that damages it."""
    from captcha_cnn.core.config import load_config

    folder = tmp_path_factory.mktemp("finished")
    data = tmp_path_factory.mktemp("data")
    train(load_config("smoke.yaml")[0], "run", folder / "run", data_dir=data, progress=False)
    return folder / "run", data


@pytest.fixture
def damaged(finished_run, tmp_path):
    """A fresh copy of the finished run to damage, and the data folder."""
    source, data = finished_run
    shutil.copytree(source, tmp_path / "run")
    return RunDir(tmp_path / "run"), data


# Class 1: a damaged metrics row ------------------------------------------------------------

@pytest.mark.parametrize("lines, problem", [
    ([row(3)[:20], row(6)], "line 1 is damaged: not JSON"),                  # torn, then valid
    ([row(3), "", "{oops", row(9)], "line 3 is damaged: not JSON"),           # an editor's slip
    (["[1, 2]", row(6)], "a JSON list, not an object"),
    (['"step 3"'], "a JSON str, not an object"),
    ([json.dumps({**ROW, "step": "3"})], "step is '3'"),
    ([json.dumps({**ROW, "step": True})], "step is True"),
    ([row(6), row(3)], "step 3 does not come after step 6"),
    ([row(3), row(3)], "step 3 does not come after step 3"),
    ([row(3, test_loss="2.3")], "no number for test_loss"),
    ([json.dumps({"step": 3})], "no number for test_loss"),
    ([row(3, grad_norm=[1])], "grad_norm is [1], not a number"),
    ([b"\xff\xfe".decode("latin-1"), row(6)], "not JSON"),
])
def test_a_damaged_line_is_an_error_naming_it(tmp_path, lines, problem):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DamagedRunFile, match="metrics.jsonl: line") as raised:
        read_metric_rows(path)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("tail", ['{"step": 9, "train_lo', '{"step": 9, "train_loss": 2.3,\n',
                                  "\x00\x00\x00"])
def test_a_torn_last_line_is_left_out_and_named(tmp_path, capsys, tail):
    run = RunDir(tmp_path)
    run.metrics.write_text(row(3) + "\n" + row(6) + "\n" + tail)
    assert [r["step"] for r in run.read_metrics()] == [3, 6]
    assert "metrics.jsonl: line 3 is torn" in capsys.readouterr().err


def test_null_training_means_and_blank_lines_are_rows(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(row(3) + "\n\n" + row(6, train_loss=None) + "\n")
    assert [r["step"] for r in read_metric_rows(path)[0]] == [3, 6]


@pytest.mark.parametrize("line", [1, 2])
def test_reading_and_resuming_refuse_a_damaged_middle_line_and_change_nothing(damaged, line):
    """The old reader stopped at the bad line: evaluate.py reported a shorter run and --resume
    rewrote the file without the valid rows after it."""
    from captcha_cnn.analysis.compare import load_run
    from captcha_cnn.core.config import load_config

    run, data = damaged
    lines = run.metrics.read_text().splitlines()
    lines.insert(line - 1, lines[line - 1][:30])  # A torn copy before a valid row.
    run.metrics.write_text("\n".join(lines) + "\n")
    before = run.metrics.read_bytes(), run.environment.read_bytes(), run.config.read_bytes()
    with pytest.raises(DamagedRunFile, match=f"line {line} is damaged"):
        load_run(run.path)
    with pytest.raises(DamagedRunFile, match=f"line {line} is damaged"):
        train(load_config("smoke.yaml", ["train.steps=9"])[0], "run", run.path, resume=True,
              data_dir=data, progress=False)
    assert (run.metrics.read_bytes(), run.environment.read_bytes(),
            run.config.read_bytes()) == before
    assert run.is_finished()  # Still the finished run it was.


def test_resume_drops_only_a_torn_last_line(damaged, capsys):
    from captcha_cnn.core.config import load_config

    run, data = damaged
    with open(run.metrics, "a") as handle:
        handle.write('{"step": 7, "train_lo')
    run.summary.unlink()
    train(load_config("smoke.yaml", ["train.steps=9"])[0], "run", run.path, resume=True,
          data_dir=data, progress=False)
    assert "dropping line 4, torn" in capsys.readouterr().err
    assert [r["step"] for r in run.read_metrics()] == [0, 3, 6, 9]


# Class 3: every file read back is checked ---------------------------------------------------

@pytest.mark.parametrize("name, content, problem", [
    ("summary.json", b'{"steps": 6', "summary.json: damaged (not JSON"),
    ("summary.json", b"[]", "summary.json: damaged (a JSON list"),
    ("summary.json", b'{"steps": "6"}', "summary.json: damaged: no integer steps"),
    ("summary.json", b"\xff", "summary.json: damaged (not JSON"),
    ("environment.json", b'{"device": ', "environment.json: damaged (not JSON"),
    ("environment.json", b'"cpu"', "environment.json: damaged (a JSON str"),
    ("environment.json", b'{"resumed": {}}', "environment.json: damaged: resumed is {}"),
    ("config.yaml", b"- a list\n", "config.yaml: a run config must be a mapping"),
    ("config.yaml", b"seed: 0\n", "config.yaml: damaged run config: no data, model, loss, train"),
    ("config.yaml", b"train: {steps: 6}\ntrain: {steps: 9}\n", "key 'train' appears twice"),
    ("config.yaml", b"seed: 0 # \xe9\n", "config.yaml: not UTF-8 text"),
])
def test_a_damaged_run_file_stops_a_resume_before_anything_is_written(damaged, name, content,
                                                                       problem):
    from captcha_cnn.core.config import load_config

    run, data = damaged
    (run.path / name).write_bytes(content)
    files = {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()}
    with pytest.raises(UserError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        train(load_config("smoke.yaml", ["train.steps=9"])[0], "run", run.path, resume=True,
              data_dir=data, progress=False)
    assert {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()} == files


@pytest.mark.parametrize("name, content", [
    ("environment.json", b"{"), ("environment.json", b'{"device": 3}'),
    ("config.yaml", b"data: 3\nmodel: {}\nloss: {}\ntrain: {}\nseed: 0\n"),
    ("config.yaml", b"\xff\xfe"), ("metrics.jsonl", b'{"step": 3}\n'),
])
def test_evaluate_names_a_damaged_run_file(damaged, run_main, tmp_path, name, content):
    import evaluate

    run, _ = damaged
    (run.path / name).write_bytes(content)
    result = run_main(evaluate.main, str(run.path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {run.path / name}") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("damage", ["not json", "list", "dtype", "progress"])
def test_a_damaged_checkpoint_falls_back_or_is_named(damaged, damage, capsys):
    from captcha_cnn.core.config import load_config

    run, data = damaged
    newest = run.checkpoint_paths()[-1]
    arrays = dict(np.load(newest))
    if damage == "not json":
        newest.write_bytes(b"PK\x03\x04 torn")
    elif damage == "list":
        newest.write_bytes(b"[]")
    elif damage == "dtype":
        arrays["model/0"] = np.array(["text"])
        np.savez(newest, **arrays)
    else:  # The progress record of another shape: read, but it does not fit this model.
        arrays["progress"] = np.zeros(5)
        np.savez(newest, **arrays)
    run.summary.unlink()
    config = load_config("smoke.yaml", ["train.steps=9"])[0]
    if damage == "progress":
        with pytest.raises(UserError, match="checkpoint does not match the model"):
            train(config, "run", run.path, resume=True, data_dir=data, progress=False)
        return
    train(config, "run", run.path, resume=True, data_dir=data, progress=False)
    assert "trying an older one" in capsys.readouterr().err
    assert [r["step"] for r in run.read_metrics()] == [0, 3, 6, 9]  # Resumed from step 3.


@pytest.mark.parametrize("meta", [b"[1, 2]", b'"text"', b"\xff", b'{"bytes": "many"}', b"{"])
def test_a_damaged_dataset_metadata_file_regenerates_the_set(tmp_path, capsys, meta):
    from captcha_cnn.data import captchas

    spec = captchas.DatasetSpec("0123456789", 2, 32, 16, 4, 0, "test")
    images, indices = captchas.load_or_generate(spec, tmp_path, progress=False)
    (tmp_path / f"{spec.cache_key()}.json").write_bytes(meta)
    again = captchas.load_or_generate(spec, tmp_path, progress=False)
    assert "damaged or incomplete; regenerating it" in capsys.readouterr().err
    assert np.array_equal(again[0], images) and np.array_equal(again[1], indices)


def test_a_fifo_where_the_newest_checkpoint_should_be_is_skipped_without_waiting(tmp_path,
                                                                                  capsys):
    """Opening a FIFO for reading waits for a writer forever: only regular files are opened."""
    run = RunDir(tmp_path)
    run.save_checkpoint(3, {"w": np.ones(2)})
    os.mkfifo(run.checkpoints / "step-00000006.npz")
    found = []
    reader = threading.Thread(target=lambda: found.append(run.load_latest_checkpoint()),
                              daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "load_latest_checkpoint waited on the FIFO"
    assert found[0][0] == 3
    assert "step-00000006.npz is unreadable" in capsys.readouterr().err
