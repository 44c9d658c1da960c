"""tf.distribute without a GPU: the CPU split into 2 logical devices (mirrored) and two local
workers on loopback (multi_worker), each against a single-device run of the same config.

Dropout is off in these runs: Keras keeps dropout's random state as a mirrored variable, so
every replica draws the same masks and a distributed run with dropout is not equivalent to one
device (training says so at start). Without it the runs must agree to
float rounding, which differs between CPUs (AVX-512 or AVX2 only) and between two code paths:
continuous values within a relative tolerance, accuracies within a few characters, never
"identical", since one character that rounding flips moves an accuracy by 1/128 here.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
from helpers import REPO, assert_one_line_error, run_command

TOLERANCE = 1e-5
# Characters (or captchas) an accuracy may differ by: the smoke set has 32 held-out captchas
# (128 characters) and a training slice of 128 captchas (512 characters). Measured: 0 on an
# AVX-512 EPYC; 1 character on an AVX2 one (batch-norm model, mirrored against one device).
EVALUATED = {"test_char_acc": 128, "test_whole_acc": 32, "train_eval_char_acc": 512}
SLACK = 2
STEPS = ["model.dropout=0.0", "train.steps=20", "train.eval_every=10"]
COMPARED = ("train_loss", "grad_norm", "test_loss", "max_prob")


def smoke_arguments(run_dir, data_dir, settings) -> list[str]:
    overrides = [part for setting in settings for part in ("--set", setting)]
    return ["--config", "smoke.yaml", "--no-progress", *overrides, "--run-dir", str(run_dir),
            "--data-dir", str(data_dir)]


def train_smoke(run_dir, data_dir, *settings):
    """train.py on the smoke config with `--set` settings, in a fresh process, as a user runs it:
    logical CPUs can only be made before TensorFlow starts."""
    return run_command("train.py", *smoke_arguments(run_dir, data_dir, settings))


def train_on_one_device(run_dir, data_dir, *settings) -> None:
    """The single-device reference, in this process: it needs no fresh one."""
    import train
    from captcha_cnn.core.cli import run_cli

    assert run_cli(train.main, smoke_arguments(run_dir, data_dir, settings)) == 0


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribute")
    train_on_one_device(root / "none", root / "data", *STEPS)
    return root, read_rows(root / "none")


def read_rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(expected, actual, tolerance=TOLERANCE):
    assert [row["step"] for row in actual] == [row["step"] for row in expected] == [0, 10, 20]
    for want, got in zip(expected, actual, strict=True):
        for key in COMPARED:
            assert got[key] == pytest.approx(want[key], rel=tolerance), key
        for key, count in EVALUATED.items():
            assert abs(got[key] - want[key]) * count <= SLACK + 1e-9, (key, got[key], want[key])


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(single_device):
    root, expected = single_device
    result = train_smoke(root / "mirrored", root / "data", *STEPS, "train.distribute=mirrored",
                         "train.logical_cpus=2")
    assert result.returncode == 0, result.stderr
    assert "mirrored, 2 replicas" in result.stdout
    assert "identical dropout masks" not in result.stdout  # Dropout is off here.
    assert_same_training(expected, read_rows(root / "mirrored"))
    environment = json.loads((root / "mirrored" / "environment.json").read_text())
    assert "mirrored, 2 replicas" in environment["device"]


@pytest.mark.slow
def test_mirrored_batch_norm_uses_the_global_batch(tmp_path):
    """The fast model's batch norm is synchronized: statistics of the global batch, as on one
    device, not of each replica's half. Summing the statistics over replicas rounds differently
    (and a single device uses plain batch norm): after 20 steps, measured 4e-6 relative on the
    gradient norm with one thread per process and 2e-4 on the held-out loss with TensorFlow's
    default threads, identical accuracies (without synchronization the accuracies differ
    outright)."""
    settings = (*STEPS, "model.name=fast", "data.height=32")
    train_on_one_device(tmp_path / "none", tmp_path / "data", *settings)
    result = train_smoke(tmp_path / "mirrored", tmp_path / "data", *settings,
                         "train.distribute=mirrored", "train.logical_cpus=2")
    assert result.returncode == 0, result.stderr
    assert_same_training(read_rows(tmp_path / "none"), read_rows(tmp_path / "mirrored"),
                         tolerance=1e-3)


def test_replicas_with_dropout_are_said_not_to_be_equivalent():
    """Said at the start of a run (announce.announce); the mirrored run above, without dropout,
    shows that it is said only when it applies."""
    from captcha_cnn.train.announce import placement_notes

    assert placement_notes("mirrored", 2, 0.25) == [
        "the 2 replicas draw identical dropout masks, so this run is not equivalent to one "
        "device; model.dropout=0 makes it so"]
    assert placement_notes("multi_worker", 4, 0.5)[0].startswith("the 4 replicas draw")
    assert placement_notes("mirrored", 2, 0.0) == []
    assert placement_notes("none", 1, 0.25) == []
    assert placement_notes("mirrored", 1, 0.25) == [
        "mirrored over a single device; without GPUs, train.logical_cpus splits the CPU"]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow
def test_two_local_workers_match_one_device(single_device):
    root, expected = single_device
    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        environment = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, "train.py", "--config", "smoke.yaml", "--no-progress",
             *[part for setting in (*STEPS, "train.distribute=multi_worker")
               for part in ("--set", setting)], "--run-dir", str(root / "cluster"),
             "--data-dir", str(root / "data")],
            cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    # The same --run-dir (as on a shared disk): worker 1 keeps its copy beside worker 0's. Every
    # worker trains the same model on its half of each batch.
    for run_dir in ("cluster", "cluster-worker1"):
        assert_same_training(expected, read_rows(root / run_dir))


@pytest.mark.parametrize("settings, environment, fragments", [
    (["train.distribute=multi_worker"], {}, ["TF_CONFIG is not set"]),
    (["train.distribute=multi_worker"], {"TF_CONFIG": "{not json"},
     ["TF_CONFIG is '{not json'; expected JSON like"]),
    (["train.distribute=multi_worker"],
     {"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", '
                   '"index": 3}}'}, ["is not one of the 1 workers"]),
    (["train.distribute=gpus"], {}, ["train.distribute: unknown value 'gpus'",
                                     "none, mirrored, multi_worker"]),
    (["train.logical_cpus=-1"], {}, ["train.logical_cpus: must be 0", "got -1"]),
    (["train.logical_cpus=2"], {}, ["train.logical_cpus: 2 is for train.distribute mirrored"]),
    (["train.distribute=multi_worker", "train.max_minutes=5"], {},
     ["train.max_minutes: not with train.distribute multi_worker"]),
])
def test_bad_distribution_settings_fail_in_one_line(tmp_path, monkeypatch, run_main, settings,
                                                    environment, fragments):
    import train

    monkeypatch.delenv("TF_CONFIG", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    overrides = [part for setting in settings for part in ("--set", setting)]
    result = run_main(train.main, "--config", "smoke.yaml", "--no-progress", *overrides,
                      "--run-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "data").exists()  # Failed before generating any captchas.


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_replicas_fails_in_one_line(tmp_path):
    """In a fresh process: the logical CPUs are made before TensorFlow starts, which a test
    process that already ran TensorFlow can no longer do."""
    result = train_smoke(tmp_path / "run", tmp_path / "data", "train.distribute=mirrored",
                         "train.logical_cpus=3")
    assert_one_line_error(result, "train.batch_size 16 does not split evenly over 3 replicas",
                          "multiple of 3")
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()


def test_device_detection_and_gpu_memory_growth(monkeypatch):
    """Without a GPU the CPU is named; with GPUs (faked here) each gets memory growth."""
    import tensorflow as tf

    from captcha_cnn.train import devices

    assert devices.describe_device().startswith("CPU (")
    grown = []
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["gpu0", "gpu1"] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda gpu, enabled: grown.append((gpu, enabled)))
    devices.configure_devices()
    assert grown == [("gpu0", True), ("gpu1", True)]
