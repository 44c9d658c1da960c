"""The entry points as a user runs them: end to end on the smoke config, and every error path.

The end-to-end run, the comparison and the export go through real processes; the error paths and
the plans call the same `main(argv)` in this process (`run_main`), through the same run_cli.
"""

import json
import shutil

import numpy as np
import pytest
from conftest import run_command
from PIL import Image

import evaluate
import train
from captcha_cnn.data.captchas import DatasetSpec, render_sample
from captcha_cnn.experiments import reproduce, sweep

SMOKE = ["train.py", "--config", "smoke.yaml", "--no-progress"]
SMOKE_ARGS = SMOKE[1:]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One real smoke run through train.py, shared by the tests that read it."""
    root = tmp_path_factory.mktemp("smoke")
    data_dir, run_dir = root / "data", root / "run"
    result = run_command(*SMOKE, "--run-dir", str(run_dir), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    return {"run": run_dir, "data": data_dir, "stdout": result.stdout, "root": root}


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_smoke_run_writes_a_complete_run_directory(smoke_run):
    run = smoke_run["run"]
    for name in ("config.yaml", "environment.json", "metrics.jsonl", "model.keras",
                 "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert list((run / "checkpoints").glob("step-*.npz"))
    # Results are exact for one thread setting only, so the run records it.
    threads = json.loads((run / "environment.json").read_text())["threads"]
    assert set(threads) == {"cores", "intra_op", "inter_op"} and threads["cores"] >= 1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [3, 6]
    for key in ("train_loss", "test_loss", "test_char_acc", "test_whole_acc", "elapsed_s"):
        assert all(key in row for row in rows)
    # Six steps of a tiny model: the loss is still at ln(10) and accuracy near chance.
    assert abs(rows[-1]["test_loss"] - np.log(10)) < 0.1
    assert 0.0 <= rows[-1]["test_char_acc"] <= 0.4
    # TensorBoard reads the same scalars back (TF 2 writes them as tensor events).
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for tag in ("train_loss", "test_loss", "test_char_acc", "test_whole_acc"):
        assert tag in events.Tags()["tensors"]
    assert [event.step for event in events.Tensors("test_char_acc")] == [3, 6]
    assert "config" in events.Tags()["tensors"]  # The resolved config, as text.
    image_events = events.Tensors("held_out_predictions")  # TF 2 images are tensor events too.
    assert [event.step for event in image_events] == [3, 6]
    stdout = smoke_run["stdout"]
    for derived in ("run directory:", "device:", "40 wide (4 x 10)", "parameters",
                    "6 x 16 images = 96 images"):
        assert derived in stdout


def test_evaluate_writes_figure_and_table(smoke_run, tmp_path):
    result = run_command("evaluate.py", str(smoke_run["run"]), "--out", str(tmp_path / "e"))
    assert result.returncode == 0, result.stderr
    for name in ("curves.png", "units.png"):  # units.png: the run logged unit health.
        figure = tmp_path / "e" / name
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(figure) as image:
            assert image.width > 1000
        assert str(figure) in result.stdout
    table = (tmp_path / "e" / "summary.md").read_text()
    assert "| run |" in table and "| smoke-run |" not in table and "| run | logits |" in table


def test_evaluate_until_compares_the_first_steps_only(smoke_run, tmp_path, run_main):
    result = run_main(evaluate.main, str(smoke_run["run"]), "--out", str(tmp_path / "e"),
                      "--until", "4")
    assert result.returncode == 0, result.stderr
    row = (tmp_path / "e" / "summary.md").read_text().splitlines()[-1]
    assert row.split(" | ")[4] == "3"  # The smoke run evaluates at steps 3 and 6.
    early = run_main(evaluate.main, str(smoke_run["run"]), "--out", str(tmp_path / "f"),
                     "--until", "2")
    assert_one_line_error(early, "--until 2:", "has no evaluation by step 2")
    assert not (tmp_path / "f").exists()


def test_evaluate_reads_an_image_file(smoke_run, tmp_path, run_main):
    spec = DatasetSpec("0123456789", 4, 48, 16, 1, 99, "test")
    _, gray = render_sample(spec, 0)
    path = tmp_path / "captcha.png"
    Image.fromarray(gray).save(path)
    result = run_main(evaluate.main, str(smoke_run["run"]), "--image", str(path))
    assert result.returncode == 0, result.stderr
    text = result.stdout.split()[0]
    assert len(text) == 4 and set(text) <= set("0123456789")
    assert "per-character probability" in result.stdout


def test_an_existing_run_is_never_overwritten(smoke_run, run_main):
    before = (smoke_run["run"] / "metrics.jsonl").read_bytes()
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]),
                         "--data-dir", str(smoke_run["data"]))
    assert_one_line_error(result, str(smoke_run["run"]), "--resume")
    assert (smoke_run["run"] / "metrics.jsonl").read_bytes() == before


def test_resuming_a_finished_run_does_nothing(smoke_run, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]),
                         "--data-dir", str(smoke_run["data"]), "--resume")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout


def test_resuming_with_a_different_config_is_refused(smoke_run, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(smoke_run["run"]), "--data-dir",
                         str(smoke_run["data"]), "--resume", "--set", "train.learning_rate=0.1")
    assert_one_line_error(result, "train.learning_rate is 0.0003 in the run but 0.1 now",
                          "--resume may change only train.steps, train.stop_at_whole_acc")


# The bad-input catalogue, through the real entry point: each entry fails in one line naming the
# source, the key and the value, and leaves no run directory and no cache entry behind.
BAD_SETTINGS = [
    ("train.stepz=3", ["train.stepz: unknown key"]),
    ("model.depth=3", ["model.depth: unknown key"]),
    ("train.steps=0", ["train.steps: must be at least 1, got 0"]),
    ("train.steps=-5", ["train.steps: must be at least 1, got -5"]),
    ("train.steps=ten", ["train.steps: expected an integer, got 'ten'"]),
    ("train.batch_size=0", ["train.batch_size: must be at least 1, got 0"]),
    ("train.eval_every=0", ["train.eval_every: must be at least 1, got 0"]),
    ("train.checkpoint_every=-1", ["train.checkpoint_every: must be at least 1"]),
    ("train.learning_rate=-0.1", ["train.learning_rate: must be positive, got -0.1"]),
    ("train.deterministic=maybe", ["train.deterministic: expected a boolean"]),
    ("seed=-1", ["seed: must be in [0, 2**32), got -1"]),
    ("train.precision=float8", ["train.precision: unknown value 'float8'", "mixed_bfloat16"]),
    ("loss.pitfall_check=loud", ["loss.pitfall_check: unknown value 'loud'"]),
    ("data.length=0", ["data.length: must be at least 1, got 0"]),
    ("data.charset=", ["data.charset: must not be empty"]),
    ("data.charset=0120", ["data.charset: '0120' repeats '0'"]),
    ("data.width=6", ["data.width: 6 is too small"]),
    ("data.height=4", ["data.height: 4 is too small"]),
    ("data.train_size=0", ["data.train_size: must be at least 1"]),
    ("model.name=resnet", ["model.name: unknown value 'resnet'", "allowed: classic"]),
    ("model.init=he", ["model.init: unknown value 'he'", "allowed: keras, tutorial"]),
    ("loss.name=softmax", ["loss.name: unknown value 'softmax'", "softmax_then_logits"]),
    ("loss.layout=rows", ["loss.layout: unknown value 'rows'", "flat_normalized"]),
    ("train.optimizer=rmsprop", ["train.optimizer: unknown value 'rmsprop'", "adam, sgd"]),
    ("train=5", ["train: expected a mapping"]),
    ("train.steps", ["expected KEY=VALUE"]),
]


@pytest.mark.parametrize("setting, fragments", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_bad_settings_fail_in_one_line_and_create_nothing(tmp_path, run_main, setting, fragments):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    result = run_main(train.main, "--config", "smoke.yaml", "--set", setting,
                         "--run-dir", str(run_dir), "--data-dir", str(data_dir))
    assert_one_line_error(result, *fragments)
    line = result.stderr.strip().splitlines()[-1]
    assert "smoke.yaml" in line or f"--set {setting}" in line  # Where the bad value came from.
    assert not run_dir.exists() and not data_dir.exists()


@pytest.mark.parametrize("args, fragments", [
    (["--config", "nosuch.yaml"], ["nosuch.yaml: config file not found", "correct.yaml"]),
])
def test_bad_input_fails_in_one_line_and_creates_nothing(tmp_path, args, fragments):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    result = run_command("train.py", *args, "--run-dir", str(run_dir), "--data-dir", str(data_dir))
    assert_one_line_error(result, *fragments)
    assert not run_dir.exists() and not data_dir.exists()


def test_resuming_nothing_without_a_config_is_refused(tmp_path, run_main):
    result = run_main(train.main, "--run-dir", str(tmp_path / "none"), "--resume")
    assert_one_line_error(result, "none: no run to resume")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("text, fragments", [
    ("train:\n  steps: [1,\n", ["malformed YAML at line"]),
    ("- just\n- a list\n", ["a config must be a mapping", "not list"]),
    ("train:\n  optimizer:\n    name: adam\n", ["train.optimizer: expected a string"]),
    ("data:\n  charset: 0123\n", ["data.charset: expected a string", "quote it"]),
    ("seed: 1\ntrain:\n  extra:\n    deep: 1\n", ["train.extra: unknown key"]),
])
def test_bad_config_files_are_named(tmp_path, run_main, text, fragments):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_main(train.main, "--config", str(bad), "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(result, "bad.yaml", *fragments)
    assert not (tmp_path / "r").exists()


def test_a_folder_that_is_not_a_run_is_not_written_into(tmp_path, run_main):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_main(train.main, *SMOKE_ARGS, "--run-dir", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(result, "is not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_diverging_run_stops_loudly(tmp_path, run_main):
    result = run_main(train.main, *SMOKE_ARGS, "--set", "train.optimizer=sgd", "--set",
                         "train.learning_rate=1e12", "--run-dir", str(tmp_path / "run"),
                         "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, "loss became", "train.learning_rate")
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize("make_image, fragments", [
    (None, ["image file not found"]),
    (lambda path: path.write_text("not an image"), ["not a readable image"]),
    (lambda path: Image.new("L", (160, 60)).save(path), ["image is 160x60", "48x16"]),
])
def test_bad_image_files_are_refused(smoke_run, tmp_path, run_main, make_image, fragments):
    path = tmp_path / "input.png"
    if make_image:
        make_image(path)
    result = run_main(evaluate.main, str(smoke_run["run"]), "--image", str(path))
    assert_one_line_error(result, str(path), *fragments)


def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path, run_main):
    result = run_main(evaluate.main, str(tmp_path), "--out", str(tmp_path / "e"))
    assert_one_line_error(result, "not a run directory")


def test_the_sweep_trains_its_grid_once_and_reports(tmp_path, run_main):
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["configs/sweep_smoke.yaml", "--runs", str(runs), "--out", str(out), "--data-dir",
            str(tmp_path / "data"), "--no-progress"]
    first = run_main(sweep.main, *args)
    assert first.returncode == 0, first.stderr
    names = sorted(p.name for p in runs.iterdir())
    assert len(names) == 6  # 2 losses x (1 SGD rate + 2 Adam rates) x 1 seed.
    assert "adam-lr0.0003-softmax_then_logits-seed0" in names
    assert all((runs / name / "summary.json").is_file() for name in names)
    summary = json.loads((out / "sweep" / "sweep.json").read_text())
    assert len(summary) == 6 and {row["seeds"] for row in summary} == {1}
    assert (out / "sweep" / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "adam-lr0.0003-softmax_then_logits-seed0" / "summary.json").is_file()
    table = (out / "sweep" / "sweep.md").read_text()
    assert "| sgd-momentum0.9 | 0.1 | softmax_then_logits |" in table

    again = run_main(sweep.main, *args)  # Everything finished: nothing is trained again.
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("nothing to do") == 6
    (out / "sweep" / "sweep.md").unlink()
    report_only = run_main(sweep.main, *args, "--report-only")  # Trains nothing, reports.
    assert report_only.returncode == 0, report_only.stderr
    assert "nothing to do" not in report_only.stdout
    assert (out / "sweep" / "sweep.md").read_text() == table


@pytest.mark.parametrize("text, fragment", [
    ("base: smoke.yaml\nlosses: [logits]\nseeds: [0]\noptimizers: [adam]\n",
     "optimizers: each entry needs a name"),
    ("base: smoke.yaml\nlosses: [logits]\nseeds: 0\noptimizers: [{name: adam}]\n",
     "seeds: expected a non-empty list"),
    ("base: smoke.yaml\nlosses: [logits]\nseeds: [0]\n"
     "optimizers: [{name: adam, learning_rates: [fast]}]\n", "learning_rates must be numbers"),
    ("base: smoke.yaml\nlosses: [softmax]\nseeds: [0]\n"
     "optimizers: [{name: adam, learning_rates: [1e-3]}]\n", "loss.name: unknown value 'softmax'"),
    ("base: smoke.yaml\nlosses: [logits]\nseeds: [0]\n", "missing keys ['optimizers']"),
])
def test_a_bad_sweep_file_is_refused(tmp_path, run_main, text, fragment):
    bad = tmp_path / "sweep.yaml"
    bad.write_text(text)
    result = run_main(sweep.main, str(bad), "--runs", str(tmp_path / "r"))
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "r").exists()


def test_reproduce_refuses_seeds_outside_its_plan(tmp_path, run_main):
    result = run_main(reproduce.main, "configs/reproduce_smoke.yaml", "--seeds", "5",
                      "--runs", str(tmp_path / "r"))
    assert_one_line_error(result, "--seeds: [5] not in the plan's seeds [0, 1]")
    assert not (tmp_path / "r").exists()


def test_reproduce_trains_the_plan_and_publishes_small_files(tmp_path, run_main):
    results, runs = tmp_path / "results", tmp_path / "runs"
    args = ["configs/reproduce_smoke.yaml", "--runs", str(runs), "--out", str(results),
            "--data-dir", str(tmp_path / "data"), "--no-progress", "--seeds", "0"]
    first = run_main(reproduce.main, *args)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in runs.iterdir()) == [
        "hide-smoke-seed0", "hide-smoke_buggy-seed0", "stall-smoke-seed0", "stall-smoke_buggy-seed0"]
    report = (results / "REPORT.md").read_text()
    assert "Made by `python -m captcha_cnn.experiments.reproduce configs/reproduce_smoke.yaml`" in report
    assert "| correct: 98% accuracy after 4000 steps |" in report
    assert "n/a (runs end before step 1000)" in report
    assert "n/a (runs too short)" in report
    assert "| (buggy: best per character from step 1000 on, per seed) | " \
           "n/a (runs end before step 1000) | |" in report
    assert "## The flat layout's gradient trap" in report
    assert "| (buggy: step leaving the plateau, the first evaluation above 15% per character, " \
           "per seed) | not by 4 | |" in report  # Four steps never leave it.
    assert "- Made by the tests." in report  # The plan's notes, under the run table.
    assert (results / "stall.png").is_file() and (results / "hide.png").is_file()
    one_seed_figure = (results / "stall.png").read_bytes()
    published = sorted(p.name for p in (results / "runs" / "stall-smoke-seed0").iterdir())
    assert published == ["config.yaml", "environment.json", "metrics.jsonl", "summary.json"]

    publish_only = run_main(reproduce.main, *args[:-1], "0,1", "--publish-only")  # Trains nothing.
    assert publish_only.returncode == 0, publish_only.stderr
    assert len(list(runs.iterdir())) == 4

    both = run_main(reproduce.main, *args[:-1], "0,1")  # Seed 0 is skipped, seed 1 is trained.
    assert both.returncode == 0, both.stderr
    assert both.stdout.count("nothing to do") == 4
    assert len(list(runs.iterdir())) == 8
    assert (results / "stall.png").read_bytes() != one_seed_figure  # Redrawn with seed 1.

    # --seeds chooses what to train; the report always covers every run of the plan.
    one_seed = run_main(reproduce.main, *args[:-1], "1")
    assert one_seed.returncode == 0, one_seed.stderr
    assert one_seed.stdout.count("nothing to do") == 4
    report = (results / "REPORT.md").read_text()
    assert "| stall-smoke-seed0 | 4 |" in report and "| stall-smoke-seed1 | 4 |" in report

    # On a fresh checkout runs/ is gone but results/ is committed: nothing is trained again.
    shutil.rmtree(runs)
    fresh = run_main(reproduce.main, *args[:-1], "0,1")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.count("not trained again") == 8 and not runs.exists()
    assert "| stall-smoke-seed1 | 4 |" in (results / "REPORT.md").read_text()

    # A published run made with another config than the plan's is refused, not reported.
    published = results / "runs" / "stall-smoke-seed1" / "config.yaml"
    published.write_text(published.read_text().replace("steps: 4", "steps: 5"))
    edited = run_main(reproduce.main, *args[:-1], "0,1", "--publish-only")
    assert edited.returncode == 2
    assert edited.stderr.strip() == (f"error: {published}: train.steps is 5 in the published run "
                                     f"but 4 in the plan; move the published run away to train "
                                     f"it again")


EXPORT_PROBE = """
import sys
import tensorflow as tf
reader = tf.saved_model.load(sys.argv[1])
pngs = [open(path, "rb").read() for path in sys.argv[2:]]
result = reader.serve(tf.constant(pngs))
for text, probabilities in zip(result["text"].numpy(), result["probabilities"].numpy()):
    print(text.decode(), " ".join(f"{p:.6f}" for p in probabilities))
"""


def test_the_export_reads_png_bytes_in_a_process_without_the_project(smoke_run, tmp_path,
                                                                     run_main):
    """The SavedModel gives the same text and probabilities as evaluate.py --image."""
    paths = []
    for index in range(3):
        _, gray = render_sample(DatasetSpec("0123456789", 4, 48, 16, 3, 7, "test"), index)
        paths.append(tmp_path / f"c{index}.png")
        Image.fromarray(gray).save(paths[-1])
    # Run from an empty folder with a bare interpreter path: captcha_cnn is not importable there
    # unless installed, and the probe does not import it.
    result = run_command("-c", EXPORT_PROBE, str(smoke_run["run"] / "export"),
                         *map(str, paths), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    for path, line in zip(paths, lines, strict=True):
        expected = run_main(evaluate.main, str(smoke_run["run"]), "--image", str(path))
        text, probabilities = line.split(" ", 1)
        assert expected.stdout.startswith(text + "  ")
        shown = expected.stdout.split("probability: ")[1].rstrip(")\n").split(", ")
        assert [f"{float(p):.2f}" for p in probabilities.split()] == shown


@pytest.mark.parametrize("flag, command", [
    ("--reproduce", "python -m captcha_cnn.experiments.reproduce"),
    ("--sweep", "python -m captcha_cnn.experiments.sweep")])
def test_the_training_plans_moved_out_of_evaluate(flag, command, run_main):
    result = run_main(evaluate.main, flag, "configs/sweep.yaml")
    assert_one_line_error(result, f"evaluate.py {flag} moved: run `{command}")


def test_reproduce_refuses_seeds_that_are_not_integers(run_main):
    result = run_main(reproduce.main, "--seeds", "zero")
    assert_one_line_error(result, "--seeds zero: expected integers like 0,1,2")
