"""The doctor's verdicts from signals (pure logic), and on the project's committed runs."""

from __future__ import annotations

import math

import pytest
from helpers import REPO

from captcha_cnn.doctor import __main__ as doctor_cli
from captcha_cnn.doctor.runs import diagnose_run
from captcha_cnn.doctor.timeline import describe_timeline
from captcha_cnn.doctor.verdict import Diagnosis, Levels, Observation

# Per character, 10 classes: chance ln 10, accuracy 10%; the buggy loss's floor 1.461.
CORRECT = Levels(chance_loss=math.log(10), chance_accuracy=0.1)
BUGGY = Levels(chance_loss=math.log(10), chance_accuracy=0.1, floor=1.461,
               probabilities_as_logits=True)
ALIVE = {"dead": {"conv1": 0.4, "conv3": 0.95}, "gradients": {"conv1": 2e-4, "logits": 0.02}}


def kinds(levels: Levels, observations: list[Observation]) -> list[str]:
    diagnosis = Diagnosis(levels)
    return [diagnosis.add(observation).kind for observation in observations]


def test_a_slow_start_is_a_plateau_then_learning():
    observations = [Observation(0, 2.3026, 0.10, **ALIVE), Observation(100, 2.3027, 0.11, **ALIVE),
                    Observation(200, 2.10, 0.31, **ALIVE)]
    diagnosis = Diagnosis(CORRECT)
    for observation in observations:
        diagnosis.add(observation)
    assert [v.kind for v in diagnosis.history] == ["plateau", "plateau", "learning"]
    assert diagnosis.history[1].step == 0 and diagnosis.history[1].at == 100  # since step 0
    assert describe_timeline(diagnosis.history) == "plateau 0-100; learning from 200"


def test_a_layer_with_no_live_unit_is_dead_and_stays_dead_while_at_chance():
    dead = {"dead": {"conv1": 0.4, "conv3": 1.0}, "gradients": {"conv1": 1e-9, "logits": 0.02}}
    flickering = {"dead": {"conv3": 0.98}, "gradients": {"conv1": 2e-6, "logits": 0.02}}
    assert kinds(CORRECT, [Observation(0, 2.3026, 0.1, **ALIVE), Observation(100, 2.3026, 0.1, **dead),
                           Observation(200, 2.3026, 0.1, **flickering)]) == ["plateau", "dead", "dead"]


def test_a_gradient_of_exactly_zero_is_dead_and_names_the_layers():
    diagnosis = Diagnosis(BUGGY)
    verdict = diagnosis.add(Observation(600, 2.3026, 0.1, gradients={
        "conv1": 0.0, "conv2": 0.0, "conv3": 0.0, "dense": 0.002, "logits": 0.01}))
    assert verdict.kind == "dead"
    assert "conv1 to conv3 get no gradient" in verdict.evidence


def test_a_dead_network_that_learns_after_all_is_called_learning():
    dead = {"gradients": {"conv1": 0.0}}
    assert kinds(CORRECT, [Observation(0, 2.3026, 0.1, **dead),
                           Observation(100, 1.5, 0.5, **ALIVE)]) == ["dead", "learning"]


def test_probabilities_fed_as_logits_say_the_floor_then_hide_once_accuracy_rises():
    diagnosis = Diagnosis(BUGGY)
    first = diagnosis.add(Observation(0, 2.3026, 0.1, **ALIVE))
    assert first.kind == "probabilities_as_logits" and "1.461" in first.evidence
    assert diagnosis.add(Observation(300, 1.94, 0.62, **ALIVE)).kind == "hiding"
    # One noisy look just under the plateau's margin (0.14 < 1.5 x 10%, and a loss back near
    # chance) does not undo it: off the plateau, 1.25 x chance keeps it off.
    assert diagnosis.add(Observation(400, 2.29, 0.14, **ALIVE)).kind == "hiding"
    assert diagnosis.add(Observation(500, 2.29, 0.11, **ALIVE)).kind == "probabilities_as_logits"


@pytest.mark.parametrize("loss", [math.nan, math.inf, 4.8])
def test_a_non_finite_or_doubled_loss_is_diverging(loss):
    assert kinds(CORRECT, [Observation(0, 2.3026, 0.1), Observation(10, loss, 0.1)]) == \
        ["plateau", "diverging"]


def test_a_non_finite_gradient_is_diverging():
    assert kinds(CORRECT, [Observation(0, 2.3, 0.1, gradients={"dense": math.inf})]) == ["diverging"]


def test_without_chance_levels_the_start_stands_in():
    unknown = Levels()
    assert kinds(unknown, [Observation(0, 0.9), Observation(10, 0.895), Observation(20, 0.5)]) == \
        ["plateau", "plateau", "learning"]


# The committed runs, as `python -m captcha_cnn.doctor` reads them (numbers from their metrics).
@pytest.mark.parametrize("run, timeline", [
    ("stall_buggy-seed0", "probabilities_as_logits 100-500; dead from 600"),
    ("stall_buggy-seed1", "probabilities_as_logits 100-2,700; dead from 2,800"),
    ("stall_correct-seed0", "plateau 100-1,000; learning from 1,100"),
    ("stall_correct-seed1", "plateau 100-4,000; learning from 4,100"),
    ("stall_correct-seed2", "plateau 100-800; learning from 900"),
    ("hide_buggy-seed0", "probabilities_as_logits 100-300; hiding from 400"),
    ("hide_buggy-seed2", "probabilities_as_logits 100-200; hiding from 300"),
    ("hide_correct-seed1", "plateau 100-400; learning from 500"),
    # Later seeds of the stall pair, which logged unit health: dead by its units, not only by
    # its gradients; and the one correct run that died too.
    ("stall_buggy-seed3", "probabilities_as_logits 100-2,100; dead from 2,200"),
    ("stall_buggy-seed5", "dead from 100"),
    ("stall_correct-seed3", "plateau 100-2,500; dead from 2,600"),
    ("stall_correct-seed4", "plateau 100-1,900; learning from 2,000"),
    ("hide100k_buggy-seed1", "probabilities_as_logits 100-400; hiding from 500"),
    ("hide100k_correct-seed0", "plateau 100-200; learning from 300"),
    # The sigmoid pair: the twin's loss falls from 0.919 to ln 2 (the best constant, not
    # learning) and every gradient is exactly 0 from step 200; the correct sigmoid loss sits
    # at the targets' entropy (0.327) until it learns.
    ("sigmoid_buggy-seed0", "probabilities_as_logits 0-100; dead from 200"),
    ("sigmoid_correct-seed0", "plateau 0-1,400; learning from 1,500"),
])
def test_verdicts_of_the_published_runs(run, timeline):
    assert describe_timeline(diagnose_run(REPO / "results" / "runs" / run)) == timeline


def test_a_nearly_dead_run_is_not_called_dead():
    """The doctor's known limit: stall_buggy-seed2's convolutions get 1e-4 of the logits'
    gradient by step 6,000 but never exactly 0, and it logged no unit health: it stays
    'probabilities_as_logits' (true, but not the whole story)."""
    verdicts = diagnose_run(REPO / "results" / "runs" / "stall_buggy-seed2")
    assert {v.kind for v in verdicts} == {"probabilities_as_logits"}


def test_the_command_prints_a_timeline_per_run(run_main):
    result = run_main(doctor_cli.main, str(REPO / "results/runs/stall_correct-seed0"))
    assert result.returncode == 0
    assert "plateau 100-1,000; learning from 1,100" in result.stdout
    assert "learning since step 1,100" in result.stdout


def test_the_command_refuses_a_folder_that_is_not_a_run(run_main, tmp_path):
    result = run_main(doctor_cli.main, str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path}: not a run directory (no config.yaml)"


def test_doctor_stop_on_ends_a_run_at_that_verdict_and_counts_it_finished(smoke_config,
                                                                          shared_data_dir,
                                                                          tmp_path, capsys):
    """The smoke buggy run is fed probabilities from step 0: with that verdict in doctor.stop_on
    it ends there, finished (model and summary written), and a rerun has nothing to do."""
    from captcha_cnn.core.config import load_config
    from captcha_cnn.core.run_dir import RunDir
    from captcha_cnn.train.loop import train

    config = load_config("smoke_buggy.yaml", ["doctor.stop_on=[probabilities_as_logits]"])[0]
    summary = train(config, "run", tmp_path / "run", data_dir=shared_data_dir, progress=False)
    assert (summary["stop_reason"], summary["steps"]) == ("doctor", 0)
    assert summary["doctor_verdict"] == "probabilities_as_logits"
    run = RunDir(tmp_path / "run")
    assert run.is_finished() and run.model.is_file()
    assert "doctor, step 0: probabilities_as_logits since step 0" in capsys.readouterr().out
    again = train(config, "run", tmp_path / "run", resume=True, data_dir=shared_data_dir,
                  progress=False)
    assert again == summary
    assert "nothing to do" in capsys.readouterr().out
    # Without the stop, the same run goes on from its step-0 checkpoint (a resumable change).
    resumed = train(load_config("smoke_buggy.yaml")[0], "run", tmp_path / "run", resume=True,
                    data_dir=shared_data_dir, progress=False)
    assert resumed["steps"] == 6 and resumed["stop_reason"] == "steps"
    assert [row["step"] for row in run.read_metrics()] == [0, 3, 6]


def test_doctor_stop_on_refuses_an_unknown_verdict():
    from captcha_cnn.core.config import load_config
    from captcha_cnn.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"doctor.stop_on: unknown verdict 'learning' "
                                          r"\(allowed: diverging, exploding, unreachable_targets, dead, "):
        load_config("smoke.yaml", ["doctor.stop_on=[dead, learning]"])
