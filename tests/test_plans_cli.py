"""The plans as a user runs them (`python -m captcha_cnn.experiments.sweep` and `.reproduce`),
through their `main(argv)` in this process: training a grid or a plan once, skipping what is
done, publishing small files, and refusing bad plan files and seeds in one line."""

import json
import shutil

import pytest
from helpers import assert_one_line_error

from captcha_cnn.experiments import reproduce, sweep


@pytest.mark.slow
def test_the_sweep_trains_its_grid_once_and_reports(tmp_path, run_main):
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["configs/sweep_smoke.yaml", "--runs", str(runs), "--out", str(out), "--data-dir",
            str(tmp_path / "data"), "--no-progress"]
    first = run_main(sweep.main, *args)
    assert first.returncode == 0, first.stderr
    names = sorted(p.name for p in runs.iterdir())
    assert len(names) == 6  # 2 losses x (1 SGD rate + 2 Adam rates) x 1 seed.
    assert "adam-lr0.0003_softmax_then_logits-seed0" in names
    assert all((runs / name / "summary.json").is_file() for name in names)
    summary = json.loads((out / "sweep" / "sweep.json").read_text())
    assert len(summary) == 6 and {row["seeds"] for row in summary} == {1}
    assert (out / "sweep" / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "adam-lr0.0003_softmax_then_logits-seed0" / "summary.json").is_file()
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
    ("base: smoke.yaml\nlosses: [logits]\nseeds: [0]\n", "optimizers: missing (a plan needs:"),
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


@pytest.mark.slow
def test_reproduce_trains_the_plan_and_publishes_small_files(tmp_path, run_main):
    results, runs = tmp_path / "results", tmp_path / "runs"
    args = ["configs/reproduce_smoke.yaml", "--runs", str(runs), "--out", str(results),
            "--data-dir", str(tmp_path / "data"), "--no-progress", "--seeds", "0"]
    first = run_main(reproduce.main, *args)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in runs.iterdir()) == [
        "hide_buggy-seed0", "hide_correct-seed0", "stall_buggy-seed0", "stall_correct-seed0"]
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
    published = sorted(p.name for p in (results / "runs" / "stall_correct-seed0").iterdir())
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
    assert "| stall_correct-seed0 | 4 |" in report and "| stall_correct-seed1 | 4 |" in report

    # On a fresh checkout runs/ is gone but results/ is committed: nothing is trained again.
    shutil.rmtree(runs)
    fresh = run_main(reproduce.main, *args[:-1], "0,1")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.count("not trained again") == 8 and not runs.exists()
    assert "| stall_correct-seed1 | 4 |" in (results / "REPORT.md").read_text()

    # A published run made with another config than the plan's is refused, not reported.
    published = results / "runs" / "stall_correct-seed1" / "config.yaml"
    published.write_text(published.read_text().replace("steps: 4", "steps: 5"))
    edited = run_main(reproduce.main, *args[:-1], "0,1", "--publish-only")
    assert edited.returncode == 2
    assert edited.stderr.strip() == (f"error: {published}: train.steps is 5 in the published run "
                                     f"but 4 in the plan; move the published run away to train "
                                     f"it again")


def test_reproduce_refuses_seeds_that_are_not_integers(run_main):
    result = run_main(reproduce.main, "--seeds", "zero")
    assert_one_line_error(result, "--seeds zero: expected integers like 0,1,2")
