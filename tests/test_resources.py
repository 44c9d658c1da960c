"""Resources are checked before they are taken: the memory a config needs against the machine's
free memory before TensorFlow starts (one line naming the key to lower and to what), a batch
larger than its training set, and files read a line at a time."""

import pytest
from helpers import SMOKE_ARGS

import train as train_script
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.core.run_files import MAX_LINE_BYTES, DamagedRunFile, read_metric_rows
from captcha_cnn.model.memory import BASE_BYTES, check_memory, estimate, model_size

GB = 2**30


@pytest.mark.parametrize("overrides", [
    [], ["model.dense_units=7"], ["data.width=160", "data.height=60"], ["data.length=6"],
    ["model.name=fast", "data.width=64", "data.height=32"],
    ["model.name=peer", "data.width=64", "data.height=64"]])
def test_the_parameter_count_is_the_model_s(overrides):
    """The arithmetic counts exactly the parameters Keras builds."""
    from captcha_cnn.model.networks import build_model

    config = load_config("smoke.yaml", overrides)[0]
    assert model_size(config)[0] == build_model(config).count_params()


def test_the_smoke_config_fits_in_a_gigabyte():
    assert BASE_BYTES + sum(estimate(load_config("smoke.yaml")[0]).values()) < GB
    check_memory(load_config("smoke.yaml")[0], "smoke.yaml", available=GB)


@pytest.mark.parametrize("overrides, fragment", [
    (["data.train_size=1000000000"], "(data 2145.8 GB), this machine has 2.0 GB free; lower "
                                     "data.train_size from 1000000000 to at most 576658"),
    (["model.dense_units=100000000"], "(model 1808.3 GB), this machine has 2.0 GB free; lower "
                                      "model.dense_units from 100000000 to at most 67119"),
    (["train.batch_size=100000", "data.train_size=200000"],
     "(batch 44.7 GB), this machine has 2.0 GB free; lower train.batch_size from 100000 to at "
     "most 1823"),
])
def test_a_config_too_large_names_the_key_and_the_value_that_fits(overrides, fragment):
    """The numbers are the module's arithmetic on the smoke config (48x16 images), 2 GB free."""
    config = load_config("smoke.yaml", overrides)[0]
    with pytest.raises(ConfigError, match=r"^smoke\.yaml: needs about .* of memory ") as raised:
        check_memory(config, "smoke.yaml", available=2 * GB)
    assert fragment in str(raised.value)
    key, value = fragment.split("lower ")[1].split(" from ")[0], fragment.rsplit(" ", 1)[1]
    check_memory(load_config("smoke.yaml", [*overrides, f"{key}={value}"])[0], "x",
                 available=2 * GB)  # The value it names fits,
    with pytest.raises(ConfigError):  # and is the largest that does.
        check_memory(load_config("smoke.yaml", [*overrides, f"{key}={int(value) + 1}"])[0], "x",
                     available=2 * GB)


def test_images_too_large_for_one_batch_name_the_image_size():
    config = load_config("smoke.yaml", ["data.width=20000", "data.height=20000",
                                        "data.train_size=16", "data.test_size=16"])[0]
    with pytest.raises(ConfigError, match="lower data.width and data.height"):
        check_memory(config, "x", available=8 * GB)


def test_a_batch_larger_than_the_training_set_is_refused():
    with pytest.raises(ConfigError, match="train.batch_size 200 is larger than data.train_size "
                                          "128: .*lower train.batch_size to at most 128"):
        check_memory(load_config("smoke.yaml", ["train.batch_size=200"])[0], "x",
                     available=8 * GB)


def test_train_refuses_before_anything_is_made(tmp_path, run_main):
    result = run_main(train_script.main, *SMOKE_ARGS, "--run-dir", str(tmp_path / "run"),
                      "--data-dir", str(tmp_path / "data"), "--set", "data.train_size=1000000000")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "lower data.train_size from 1000000000 to at most" in result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def test_a_metrics_line_longer_than_a_row_is_named_without_reading_it_whole(tmp_path):
    path = tmp_path / "metrics.jsonl"
    row = ('{"step": 0, "test_loss": 1, "test_char_acc": 0, "test_whole_acc": 0, '
           '"elapsed_s": 0}\n')
    path.write_bytes(row.encode() + b"x" * (MAX_LINE_BYTES + 10) + b"\n" + row.encode())
    with pytest.raises(DamagedRunFile, match="line 2 is damaged: longer than 1048576 bytes"):
        read_metric_rows(path)


def test_rows_past_the_limit_are_refused_without_holding_the_rest(tmp_path, monkeypatch):
    """The file is read a line at a time and at most MAX_METRIC_ROWS rows are held: a file of
    ten times that many is refused at the first row past the limit."""
    from captcha_cnn.core import run_files

    assert run_files.MAX_METRIC_ROWS == 100_000
    monkeypatch.setattr(run_files, "MAX_METRIC_ROWS", 50)
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"step": {step}, "test_loss": 1, "test_char_acc": 0, '
                            f'"test_whole_acc": 0, "elapsed_s": 0}}\n' for step in range(500)))
    with pytest.raises(DamagedRunFile, match=r"line 51 is damaged: more than 50 rows \(a run "
                                             r"writes one per evaluation\).*and 449 more lines"):
        read_metric_rows(path)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:50]))
    assert len(read_metric_rows(path)[0]) == 50


def test_a_damaged_line_says_how_many_lines_follow(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [f'{{"step": {step}, "test_loss": 1, "test_char_acc": 0, "test_whole_acc": 0, '
            f'"elapsed_s": 0}}' for step in range(5)]
    path.write_text("\n".join([rows[0], "garbage", "", *rows[1:]]) + "\n")
    with pytest.raises(DamagedRunFile, match="line 2 is damaged: not JSON .*, and 4 more lines "
                                             "follow it"):
        read_metric_rows(path)
