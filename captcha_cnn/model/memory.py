"""The memory a run will take, estimated from its config before TensorFlow starts, against the
memory this machine has free: a config that cannot fit is refused in one line naming the key to
lower and to what, instead of a MemoryError, a ResourceExhausted traceback or an abort (exit 134)
after minutes of data generation, with a half-made run left behind.

The estimate is an upper bound of the big terms only (the arrays that grow with a key):
- data: the cached captchas, uint8, held about three times at the peak (the arrays, their
  TensorFlow constant, the compressed buffer written to the cache);
- model: float32 parameters, held six times (weights, gradients, two Adam moments, the checkpoint
  copy and its buffer);
- batch: the float32 activations of one training batch, twice (outputs and their gradients),
  plus one evaluation batch's forward pass.
Measured against the peak resident memory of train.py (3 steps, classic model on 160x60 images,
2,000 captchas): batch 64, 1.73 GB measured, 2.05 GB estimated; batch 1024, 6.76 GB measured,
7.9 GB estimated. The estimate errs high by about a sixth, never low in these.
No TensorFlow here: this module is imported before it starts.
"""

from __future__ import annotations

import math
from pathlib import Path

from captcha_cnn.core.errors import ConfigError
from captcha_cnn.model.gpu_memory import GPU_BASE_BYTES, gpu_free_memory

FLOAT = 4  # Bytes of a float32.
# TensorFlow, Keras and Python themselves, before any array of the run (measured: the smoke
# config's peak resident memory, 785 MB, less its 17 MB of arrays).
BASE_BYTES = 768 * 2**20


def _classic(height: int, width: int, outputs: int, model: dict) -> tuple[int, int]:
    """(parameters, activation floats per image) of the classic CNN."""
    params, activations, channels, h, w = 0, 0, 1, height, width
    for filters in (32, 64, 64):
        params += 9 * channels * filters + filters
        activations += h * w * filters  # the convolution's (ReLU) output
        h, w, channels = math.ceil(h / 2), math.ceil(w / 2), filters
        activations += 2 * h * w * filters  # pooled, and dropped out
    flat, units = h * w * channels, model["dense_units"]
    params += flat * units + units + units * outputs + outputs
    return params, activations + 2 * units + outputs


def _conv_bn_blocks(height: int, width: int, outputs: int, filters: tuple, convs: int,
                    downsample: bool, bias: bool) -> tuple[int, int]:
    params, activations, channels = 0, 0, 1
    h, w = (height // 2, width // 2) if downsample else (height, width)
    for block_filters in filters:
        for _ in range(convs):
            # Batch norm keeps 4 numbers per channel (scale, offset, mean, variance).
            params += 9 * channels * block_filters + (5 if bias else 4) * block_filters
            activations += 3 * h * w * block_filters  # conv, batch norm, ReLU
            channels = block_filters
        h, w = h // 2, w // 2
        activations += h * w * channels
    return params + h * w * channels * outputs + outputs, activations + outputs


def model_size(config: dict) -> tuple[int, int]:
    """(parameters, activation floats per image) of the config's model, by arithmetic."""
    data, model = config["data"], config["model"]
    outputs = data["length"] * len(data["charset"])
    if model["name"] == "classic":
        return _classic(data["height"], data["width"], outputs, model)
    if model["name"] == "fast":
        return _conv_bn_blocks(data["height"], data["width"], outputs, (32, 64, 128, 128), 1,
                               downsample=True, bias=False)
    return _conv_bn_blocks(data["height"], data["width"], outputs, (32, 64, 128, 256, 256), 2,
                           downsample=False, bias=True)


def estimate(config: dict) -> dict[str, int]:
    """Bytes of each big term: data, model, batch (see the module docstring)."""
    data, train = config["data"], config["train"]
    params, activations = model_size(config)
    per_image = activations * FLOAT
    return {"data": 3 * (data["train_size"] + data["test_size"]) * data["height"] * data["width"],
            "model": 6 * params * FLOAT,
            "batch": 2 * train["batch_size"] * per_image
            + min(train["eval_batch_size"], data["test_size"]) * per_image}


def available_memory() -> int | None:
    """Bytes this process may still take: the machine's MemAvailable, or its control group's
    limit less its use when that is lower; None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


# The key that shrinks each term most directly, tried in this order after the largest term's.
LOWER = {"data": ("data", "train_size"), "batch": ("train", "batch_size"),
         "model": ("model", "dense_units")}


def _gib(count: int) -> str:
    return f"{count / 2**30:.1f} GB"


# What each memory holds: the host all three terms; a GPU the model and the batches (the data
# stays in host memory and is fed to it a batch at a time).
HOST_TERMS, GPU_TERMS = ("data", "model", "batch"), ("model", "batch")


def _needed(config: dict, terms: tuple = HOST_TERMS, base: int = BASE_BYTES) -> int:
    sizes = estimate(config)
    return base + sum(sizes[term] for term in terms)


def _largest_that_fits(config: dict, section: str, key: str, fits_in) -> int | None:
    """The largest value of section.key below its current one with which `fits_in(config)`
    holds, by bisection (every term grows with each key); None if not even 1 fits."""
    def fits(value: int) -> bool:
        return fits_in({**config, section: {**config[section], key: value}})

    low, high = 0, config[section][key]
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low or None


def _refuse(config: dict, source: str, where: str, available: int, terms: tuple,
            base: int) -> None:
    """Raise the one-line error for an estimate over `available`: the largest term, and the
    first key (the largest term's first) whose lower value would fit, with that value."""
    sizes = {term: size for term, size in estimate(config).items() if term in terms}
    largest = max(sizes, key=sizes.get)
    action = "lower data.width and data.height (the image size), or free memory"
    for term in [largest, *(term for term in LOWER if term != largest)]:
        section, key = LOWER[term]
        if term == "model" and config["model"]["name"] != "classic":
            continue  # Only the classic model has a width of its own.
        value = _largest_that_fits(
            config, section, key, lambda changed: _needed(changed, terms, base) <= available)
        if value is not None:
            action = f"lower {section}.{key} from {config[section][key]} to at most {value}"
            break
    holder = "the GPU" if where == "GPU memory" else "this machine"
    raise ConfigError(f"{source}: needs about {_gib(_needed(config, terms, base))} of {where} "
                      f"({largest} {_gib(sizes[largest])}), {holder} has {_gib(available)} free; "
                      f"{action}")


def check_memory(config: dict, source: str, available: int | None = None,
                 gpu_available: int | None = None) -> None:
    """Refuse a config whose batch is larger than its training set, or whose estimated memory
    is more than the machine has free (its RAM, and the GPU it will train on, if any), naming
    the key to lower and to what. Generated data only: a folder's sizes are its own, counted as
    it is read (captcha_cnn.data.folder). `available` and `gpu_available` default to what this
    machine has free now (gpu_memory.py reads the GPU's without TensorFlow)."""
    data, train = config["data"], config["train"]
    if data["source"] != "generator":
        return
    if train["batch_size"] > data["train_size"]:
        raise ConfigError(f"{source}: train.batch_size {train['batch_size']} is larger than "
                          f"data.train_size {data['train_size']}: a batch would hold the same "
                          f"captcha twice; lower train.batch_size to at most {data['train_size']}")
    available = available_memory() if available is None else available
    if available is not None and _needed(config) > available:
        _refuse(config, source, "memory", available, HOST_TERMS, BASE_BYTES)
    gpu_available = gpu_free_memory() if gpu_available is None else gpu_available
    if gpu_available is not None and _needed(config, GPU_TERMS, GPU_BASE_BYTES) > gpu_available:
        _refuse(config, source, "GPU memory", gpu_available, GPU_TERMS, GPU_BASE_BYTES)
