"""evaluate.py as a user runs it on a finished smoke run: the comparison figures and table, the
reading of an image file, every error path, and the run's SavedModel export read back in a
process that does not have the project."""

import pytest
from helpers import REPO, assert_one_line_error, run_command
from PIL import Image

import evaluate
from captcha_cnn.data.captchas import DatasetSpec, render_sample


@pytest.mark.slow
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
    assert row.split(" | ")[4] == "3"  # The smoke run evaluates at steps 0, 3 and 6.
    # A published run made before step 0 was evaluated starts at step 100.
    early = run_main(evaluate.main, str(REPO / "results/runs/stall_correct-seed0"), "--out",
                     str(tmp_path / "f"), "--until", "50")
    assert_one_line_error(early, "--until 50:", "has no evaluation by step 50")
    assert not (tmp_path / "f").exists()
    negative = run_main(evaluate.main, str(smoke_run["run"]), "--until=-1")
    assert_one_line_error(negative, "--until -1: must be a step (0 or more)")


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


EXPORT_PROBE = """
import sys
import tensorflow as tf
reader = tf.saved_model.load(sys.argv[1])
pngs = [open(path, "rb").read() for path in sys.argv[2:]]
result = reader.serve(tf.constant(pngs))
for text, probabilities in zip(result["text"].numpy(), result["probabilities"].numpy()):
    print(text.decode(), " ".join(f"{p:.6f}" for p in probabilities))
"""


@pytest.mark.slow
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
