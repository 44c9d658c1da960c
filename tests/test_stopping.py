"""When a run stops (steps, an accuracy target, a time limit), the learning-rate schedule, and
exact resumption with batch norm, AMSGrad and a schedule in the state."""

import pytest

from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.loop import train
from captcha_cnn.train.optimizers import learning_rate
from captcha_cnn.train.stopping import stop_reason

TRAIN = {"steps": 100, "stop_at_whole_acc": 0.0, "max_minutes": 0.0}


def row(step, whole):
    return {"step": step, "test_whole_acc": whole}


def test_stop_reasons():
    assert stop_reason(99, None, 10.0, TRAIN) is None
    assert stop_reason(100, None, 10.0, TRAIN) == "steps"
    target = {**TRAIN, "stop_at_whole_acc": 0.98}
    assert stop_reason(50, row(50, 0.98), 10.0, target) == "target"
    assert stop_reason(50, row(50, 0.979), 10.0, target) is None
    assert stop_reason(51, row(50, 0.99), 10.0, target) is None  # Only at an evaluation.
    assert stop_reason(50, row(50, 1.0), 10.0, TRAIN) is None  # 0 means never.
    limited = {**TRAIN, "max_minutes": 2.0}
    assert stop_reason(10, None, 119.9, limited) is None
    assert stop_reason(10, None, 120.0, limited) == "time_limit"


def test_cosine_schedule_warms_up_then_decays_to_zero():
    assert learning_rate({"schedule": "constant", "learning_rate": 3e-4}) == 3e-4
    schedule = learning_rate({"schedule": "cosine", "learning_rate": 1e-3, "warmup_steps": 10,
                              "steps": 110})
    values = [float(schedule(step)) for step in (0, 5, 10, 60, 110)]
    assert values == pytest.approx([0.0, 5e-4, 1e-3, 5e-4, 0.0], abs=1e-9)
    no_warmup = learning_rate({"schedule": "cosine", "learning_rate": 1e-3, "warmup_steps": 0,
                               "steps": 100})
    assert float(no_warmup(0)) == pytest.approx(1e-3) and float(no_warmup(100)) == 0.0


@pytest.mark.slow
def test_time_limit_stops_a_run_that_resumes_only_when_given_more_time(
        smoke_config, shared_data_dir, tmp_path):
    limited = smoke_config("train.steps=1000", "train.max_minutes=0.0001")
    summary = train(limited, "run", tmp_path / "run", data_dir=shared_data_dir, progress=False)
    assert summary["stop_reason"] == "time_limit" and summary["steps"] == 1
    assert [r["step"] for r in RunDir(tmp_path / "run").read_metrics()] == [0, 1]  # Start, and there.
    again = train(limited, "run", tmp_path / "run", resume=True, data_dir=shared_data_dir,
                  progress=False)
    assert again == summary  # Nothing to do: the same limit is still reached.
    longer = train(smoke_config("train.steps=6"), "run", tmp_path / "run", resume=True,
                   data_dir=shared_data_dir, progress=False)
    assert longer["stop_reason"] == "steps" and longer["steps"] == 6
    assert [r["step"] for r in RunDir(tmp_path / "run").read_metrics()] == [0, 1, 3, 6]


@pytest.mark.slow
def test_resumed_fast_recipe_matches_uninterrupted(smoke_config, shared_data_dir, tmp_path):
    """Batch-norm statistics, AMSGrad's extra moments and the schedule's position come back."""
    config = smoke_config("model.name=fast", "data.height=32", "train.amsgrad=true", "train.schedule=cosine",
                          "train.warmup_steps=2", "train.steps=9")
    train(config, "full", tmp_path / "full", data_dir=shared_data_dir, progress=False)
    run = RunDir(tmp_path / "cut")
    train(config, "cut", run.path, data_dir=shared_data_dir, progress=False)
    for path in run.checkpoint_paths()[1:]:  # Back to the checkpoint at step 3.
        path.unlink()
    run.summary.unlink()
    train(config, "cut", run.path, resume=True, data_dir=shared_data_dir, progress=False)

    def without_time(path):
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "eval_s")}
                for r in RunDir(path).read_metrics()]

    assert [r["step"] for r in run.read_metrics()] == [0, 3, 6, 9]
    assert without_time(run.path) == without_time(tmp_path / "full")
