"""A GPU's free memory is checked before TensorFlow starts, as the machine's is: read from
nvidia-smi (faked here: this machine has no GPU), skipped whenever it cannot be known, and a
config whose model and batch do not fit is refused in one line naming the key to lower."""

import os
import stat
import time

import pytest

from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import ConfigError
from captcha_cnn.model import gpu_memory
from captcha_cnn.model.gpu_memory import gpu_free_memory, parse_free, visible_indices
from captcha_cnn.model.memory import check_memory

GB = 2**30
MIB = 2**20
TWO_GPUS = "0, 15000\n1, 3000\n"


@pytest.mark.parametrize("value, indices", [
    (None, None), ("", []), ("-1", []), ("1", [1]), ("1,0", [1, 0]), ("0,-1,1", [0]),
    ("GPU-8a1b2c3d", None)])
def test_cuda_visible_devices(value, indices):
    environ = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert visible_indices(environ) == indices


@pytest.mark.parametrize("text, visible, free", [
    (TWO_GPUS, None, 15000 * MIB), (TWO_GPUS, [1], 3000 * MIB), (TWO_GPUS, [1, 0], 3000 * MIB),
    (TWO_GPUS, [4], None), ("", None, None), ("No devices were found\n", None, None),
    ("0, [N/A]\n", None, None), ("0, 1, 2\n", None, None)])
def test_nvidia_smi_rows_are_read_or_refused(text, visible, free):
    assert parse_free(text, visible) == free


def fake_nvidia_smi(folder, script: str) -> dict:
    program = folder / "nvidia-smi"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.parametrize("script, free", [
    ("printf '0, 8000\\n'", 8000 * MIB),
    ("echo 'NVIDIA-SMI has failed' >&2; exit 9", None),
    ("echo garbage", None)])
def test_the_gpu_is_asked_through_nvidia_smi(tmp_path, script, free):
    assert gpu_free_memory(fake_nvidia_smi(tmp_path, script)) == free


def test_no_nvidia_smi_or_no_visible_gpu_means_unknown(tmp_path):
    assert gpu_free_memory({"PATH": str(tmp_path)}) is None
    environ = {**fake_nvidia_smi(tmp_path, "printf '0, 8000\\n'"), "CUDA_VISIBLE_DEVICES": "-1"}
    assert gpu_free_memory(environ) is None


def test_a_hung_driver_does_not_hang_the_check(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_memory, "TIMEOUT_S", 0.5)
    started = time.monotonic()
    assert gpu_free_memory(fake_nvidia_smi(tmp_path, "exec sleep 60")) is None
    assert time.monotonic() - started < 10


def test_a_model_and_batch_too_large_for_the_gpu_name_the_key_and_the_value_that_fits():
    """The batch of 100,000 48x16 images fits the 64 GB of RAM given but not a 4 GB GPU."""
    overrides = ["train.batch_size=100000", "data.train_size=200000"]
    config = load_config("smoke.yaml", overrides)[0]
    with pytest.raises(ConfigError, match=r"^smoke\.yaml: needs about .* of GPU memory "
                                          r"\(batch .*\), the GPU has 4\.0 GB free; lower "
                                          r"train\.batch_size from 100000 to at most (\d+)$") \
            as raised:
        check_memory(config, "smoke.yaml", available=64 * GB, gpu_available=4 * GB)
    value = int(str(raised.value).rsplit(" ", 1)[1])
    fits = load_config("smoke.yaml", [*overrides, f"train.batch_size={value}"])[0]
    check_memory(fits, "x", available=64 * GB, gpu_available=4 * GB)
    too_many = load_config("smoke.yaml", [*overrides, f"train.batch_size={value + 1}"])[0]
    with pytest.raises(ConfigError):
        check_memory(too_many, "x", available=64 * GB, gpu_available=4 * GB)


def test_the_data_does_not_count_against_the_gpu():
    """A billion cached captchas live in host memory: a GPU of 4 GB is not asked to hold them."""
    config = load_config("smoke.yaml", ["data.train_size=1000000000"])[0]
    check_memory(config, "smoke.yaml", available=10_000 * GB, gpu_available=4 * GB)
