"""A run continued from a checkpoint ends exactly where an uninterrupted run ends."""

import pytest

from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.train.loop import train

pytestmark = pytest.mark.slow  # Every test here trains and resumes a run: 8 to 12 s each.


def metrics_without_time(path):
    return [{k: v for k, v in row.items() if k not in ("elapsed_s", "eval_s")}
            for row in RunDir(path).read_metrics()]


def test_extended_run_matches_uninterrupted_run(smoke_config, shared_data_dir, tmp_path):
    """Weights, optimizer moments, dropout generators and the data position all come back."""
    full = smoke_config("train.steps=9")
    train(full, "full", tmp_path / "full", data_dir=shared_data_dir, progress=False)
    train(smoke_config("train.steps=6"), "part", tmp_path / "part", data_dir=shared_data_dir,
          progress=False)
    train(full, "part", tmp_path / "part", resume=True, data_dir=shared_data_dir, progress=False)
    resumed = metrics_without_time(tmp_path / "part")
    assert [row["step"] for row in resumed] == [0, 3, 6, 9]
    assert resumed == metrics_without_time(tmp_path / "full")


def test_rows_after_the_checkpoint_are_recomputed_not_doubled(smoke_config, shared_data_dir,
                                                              tmp_path):
    """A crash after an evaluation but before the next checkpoint leaves a row the checkpoint
    does not cover; resuming drops it and logs it again, once."""
    config = smoke_config("train.checkpoint_every=6", "train.steps=6")
    run = RunDir(tmp_path / "run")
    train(config, "run", run.path, data_dir=shared_data_dir, progress=False)
    original = metrics_without_time(run.path)
    # Make the run look as if it died after logging step 6 but before checkpointing it: its only
    # checkpoint is the one at step 3 (taken from an identical run that checkpointed there).
    for path in run.checkpoint_paths():
        path.unlink()
    train(smoke_config("train.checkpoint_every=3", "train.steps=3"), "ref", tmp_path / "ref",
          data_dir=shared_data_dir, progress=False)
    (RunDir(tmp_path / "ref").checkpoint_paths()[-1]).rename(
        run.checkpoints / "step-00000003.npz")
    run.summary.unlink()
    train(config, "run", run.path, resume=True, data_dir=shared_data_dir, progress=False)
    assert [row["step"] for row in run.read_metrics()] == [0, 3, 6]
    assert metrics_without_time(run.path) == original


def test_mixed_precision_trains_with_float32_logits(smoke_config, shared_data_dir, tmp_path):
    for precision in ("mixed_bfloat16", "mixed_float16"):
        summary = train(smoke_config(f"train.precision={precision}"), precision,
                        tmp_path / precision, data_dir=shared_data_dir, progress=False)
        assert summary["steps"] == 6
        final = summary["final"]
        assert 2.0 < final["test_loss"] < 2.6 and final["grad_norm"] > 0
    import keras

    model = keras.saving.load_model(tmp_path / "mixed_bfloat16" / "model.keras")
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"
    keras.mixed_precision.set_global_policy("float32")
