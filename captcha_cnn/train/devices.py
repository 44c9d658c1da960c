"""Where training runs: GPU memory, logical CPU devices and the tf.distribute strategy.

`train.distribute` picks a strategy from TensorFlow's own tf.distribute:
- none: the default strategy, one device (the first GPU if there is one, else the CPU);
- mirrored: `MirroredStrategy` over every local GPU, or over the CPU's logical devices when there
  is no GPU (`train.logical_cpus` splits the CPU, which is how the tests run it without a GPU);
- multi_worker: `MultiWorkerMirroredStrategy`, one process per machine, the cluster described by
  the `TF_CONFIG` environment variable (docs/distributed.md, "Several machines").

`train.batch_size` is always the global batch: each of N replicas takes batch_size / N examples of
the same global batch, so a config means the same thing on one device or eight.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from captcha_cnn.core.errors import UserError
from captcha_cnn.core.machine import cpu_name
from captcha_cnn.core.signals import NATIVE_TAKEN, stop_signals_held
from captcha_cnn.train.workers import (
    native_wait_limit,
    stop_signals_end_the_process,
    wait_for_workers,
)


@dataclass
class Placement:
    """The strategy a run trains under, and what the training loop needs to know about it."""

    strategy: tf.distribute.Strategy
    name: str                 # train.distribute
    replicas: int             # devices in sync, over all workers

    @property
    def distributed(self) -> bool:
        return self.name != "none"

    def distribute_batches(self, dataset: tf.data.Dataset):
        """Split each global batch over the replicas (unchanged for a single device)."""
        if not self.distributed:
            return dataset
        options = tf.data.Options()
        # Shard batches, not files: the data are in-memory arrays, and every worker builds the
        # same seeded stream, so worker k keeps its part of each global batch.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))


def configure_devices(logical_cpus: int = 0) -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start, so that
    several runs (or TensorBoard) can share a GPU; split the CPU into `logical_cpus` devices if
    asked. Must run before TensorFlow first uses a device in this process."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # Already initialised in this process (a second train() call).
            pass
    if logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)])
        except RuntimeError:  # Devices are fixed once TensorFlow has started in this process.
            present = len(tf.config.list_logical_devices("CPU"))
            if present != logical_cpus:
                raise UserError(f"train.logical_cpus {logical_cpus}: TensorFlow already started "
                                f"in this process with {present} CPU device(s); start a new "
                                f"process to change it") from None


def describe_device(placement: Placement | None = None) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus]
        device = f"GPU ({', '.join(names)})"
    else:
        device = f"CPU ({cpu_name()})"
    if placement is not None and placement.distributed:
        device += f"; {placement.name}, {placement.replicas} replicas"
    return device


def thread_settings() -> dict:
    """The CPU threads TensorFlow was given (0: its default, about one per core). With op
    determinism a seed gives one exact result for one setting; another thread count changes the
    float rounding (on the smoke config, 1 against 2 threads: 4e-4 relative after 30 steps)."""
    def given(variable: str, configured: int) -> int:
        text = os.environ.get(variable, "")
        return int(text) if text.isdigit() else configured

    return {"cores": os.cpu_count(),
            "intra_op": given("TF_NUM_INTRAOP_THREADS",
                              tf.config.threading.get_intra_op_parallelism_threads()),
            "inter_op": given("TF_NUM_INTEROP_THREADS",
                              tf.config.threading.get_inter_op_parallelism_threads())}


def _cluster_spec() -> dict:
    """TF_CONFIG, checked enough to give a clear error instead of a hang or a traceback."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError("train.distribute multi_worker: TF_CONFIG is not set; it must describe "
                        "the cluster and this worker's task (see docs/distributed.md)")
    try:
        spec = json.loads(text)
        workers, task = spec["cluster"]["worker"], spec["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise UserError(f"TF_CONFIG is {shown!r}; expected JSON like {{\"cluster\": "
                        f"{{\"worker\": [\"host:port\", ...]}}, \"task\": {{\"type\": "
                        f"\"worker\", \"index\": 0}}}}") from None
    if task.get("type") != "worker" or not 0 <= index < len(workers):
        raise UserError(f"TF_CONFIG: task {task} is not one of the {len(workers)} workers")
    return spec


def worker_index(train: dict) -> int:
    """This process's task index in a multi-worker cluster (0, the chief, otherwise)."""
    if train["distribute"] != "multi_worker":
        return 0
    return int(_cluster_spec()["task"]["index"])


def make_placement(train: dict) -> Placement:
    """The strategy `train.distribute` names, checked against `train.batch_size`."""
    name = train["distribute"]
    configure_devices(train["logical_cpus"])
    if name == "none":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
                   or [d.name for d in tf.config.list_logical_devices("CPU")])
        strategy = tf.distribute.MirroredStrategy(devices)
    else:  # TF_CONFIG was checked by worker_index() before any slow work.
        spec = _cluster_spec()
        wait_for_workers(spec["cluster"]["worker"], int(spec["task"]["index"]),
                         train["worker_wait_s"])
        limit = (f"train.distribute multi_worker: TensorFlow's handshake with the workers of "
                 f"TF_CONFIG did not finish within {train['worker_wait_s']:g} s "
                 f"(train.worker_wait_s), though each accepted a connection: check that every "
                 f"worker runs this command with the same TF_CONFIG cluster")
        # Outermost, the hold: a stop that came during the wait is let through only once the
        # Python handlers are back (TensorFlow puts its own SIGTERM handler in meanwhile).
        with stop_signals_held(NATIVE_TAKEN), stop_signals_end_the_process(), \
                native_wait_limit(train["worker_wait_s"], limit):
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
    replicas = strategy.num_replicas_in_sync
    if train["batch_size"] % replicas:
        raise UserError(f"train.batch_size {train['batch_size']} does not split evenly over "
                        f"{replicas} replicas ({name}); use a multiple of {replicas}")
    return Placement(strategy, name, replicas)
