"""Divergence: nothing non-finite is saved as a good checkpoint, --resume starts from the last
finite one (or says there is none), non-finite config numbers are refused, and a model that
cannot give a finite reading says so."""

from __future__ import annotations

import numpy as np
import pytest

from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError, UserError
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.core.run_files import NonFiniteState
from captcha_cnn.train.loop import train


@pytest.mark.parametrize("override", ["train.learning_rate=inf", "train.learning_rate=.inf",
                                      "train.learning_rate=nan", "train.learning_rate=.NaN",
                                      "loss.prior_pull=.inf", "train.max_minutes=nan",
                                      "train.stop_at_whole_acc=nan", "model.dropout=-.inf"])
def test_a_non_finite_config_number_is_refused(override):
    with pytest.raises(ConfigError, match="must be a finite number"):
        load_config("smoke.yaml", [override])


@pytest.mark.parametrize("value", [".inf", "-.Inf", ".nan", "inf", "1e999"])
def test_a_non_finite_number_in_a_config_file_is_refused(tmp_path, value):
    path = tmp_path / "diverge.yaml"
    path.write_text(f"base: smoke.yaml\ntrain:\n  learning_rate: {value}\n")
    with pytest.raises(ConfigError, match=f"{path.name}: train.learning_rate: must be a finite"):
        load_config(str(path))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["model/0", "optimizer/3"])
def test_a_checkpoint_with_a_non_finite_array_is_never_written(tmp_path, value, name):
    run = RunDir(tmp_path)
    good = {"model/0": np.ones(3, np.float32), "optimizer/3": np.zeros(2), "seed": np.ones(2, int)}
    run.save_checkpoint(3, good)
    bad = {**good, name: np.array([1.0, value], np.float32)}
    with pytest.raises(NonFiniteState, match=f"non-finite values in {name}.*step-00000003.npz, "
                                             f"is kept"):
        run.save_checkpoint(6, bad)
    assert [path.name for path in run.checkpoint_paths()] == ["step-00000003.npz"]


def test_a_non_finite_checkpoint_on_disk_is_skipped_for_the_finite_one(tmp_path, capsys):
    run = RunDir(tmp_path)
    run.save_checkpoint(3, {"w": np.ones(2)})
    np.savez(run.checkpoints / "step-00000006.npz", w=np.array([1.0, np.nan]))
    step, arrays = run.load_latest_checkpoint()
    assert step == 3 and np.isfinite(arrays["w"]).all()
    assert "step-00000006.npz holds non-finite values in w" in capsys.readouterr().err
    np.savez(run.checkpoints / "step-00000003.npz", w=np.array([np.inf, 1.0]))
    assert run.load_latest_checkpoint() is None


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    """SGD at 30 on the smoke run: the gradient norm is infinite at step 4 (measured)."""
    folder, data = tmp_path_factory.mktemp("diverged"), tmp_path_factory.mktemp("data")
    config = load_config("smoke.yaml", ["train.optimizer=sgd", "train.learning_rate=30",
                                        "train.steps=12", "train.checkpoint_every=1",
                                        "train.eval_every=1"])[0]
    with pytest.raises(UserError, match="training diverged") as raised:
        train(config, "run", folder / "run", data_dir=data, progress=False)
    return RunDir(folder / "run"), config, data, str(raised.value)


def test_a_diverged_run_keeps_only_finite_checkpoints_and_names_the_last(diverged):
    run, _, _, message = diverged
    paths = run.checkpoint_paths()
    assert paths and f"{paths[-1]}, is kept; --resume starts from it" in message
    for path in paths:
        with np.load(path) as stored:
            assert all(np.isfinite(stored[name]).all() for name in stored.files)
    assert not run.is_finished() and not run.model.exists()


def test_resume_after_divergence_starts_from_the_last_finite_checkpoint(diverged, capsys):
    run, config, data, message = diverged
    last = int(run.checkpoint_paths()[-1].stem.split("-")[1])
    with pytest.raises(UserError, match="training diverged") as again:
        train(config, "run", run.path, resume=True, data_dir=data, progress=False)
    assert f"resuming {run.path} from step {last}" in capsys.readouterr().out
    assert str(again.value) == message  # The same seed diverges at the same step, again.


def test_divergence_before_the_first_checkpoint_says_there_is_none(tmp_path, shared_data_dir):
    config = load_config("smoke.yaml", ["train.optimizer=sgd", "train.learning_rate=300",
                                        "train.checkpoint_every=6"])[0]
    with pytest.raises(UserError, match="There is no checkpoint yet: --resume would start again "
                                        "from step 0"):
        train(config, "run", tmp_path / "run", data_dir=shared_data_dir, progress=False)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_reading_an_image_with_a_non_finite_model_is_an_error(tmp_path, shared_data_dir,
                                                              run_main, value):
    import keras
    from PIL import Image

    import evaluate

    train(load_config("smoke.yaml", ["train.steps=3"])[0], "run", tmp_path / "run",
          data_dir=shared_data_dir, progress=False)
    run = RunDir(tmp_path / "run")
    model = keras.saving.load_model(run.model)
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])
    model.save(run.model)
    Image.new("L", (48, 16), 255).save(tmp_path / "blank.png")
    result = run_main(evaluate.main, str(run.path), "--image", str(tmp_path / "blank.png"))
    assert result.returncode == 2 and result.stdout == ""
    assert "output for" in result.stderr and "is not finite" in result.stderr
    assert result.stderr.count("\n") == 1
