"""The free memory of the GPU a run will train on, read before TensorFlow starts.

TensorFlow places the model and its batches on the first visible GPU (and, under
`train.distribute: mirrored`, a copy of the model on each): a model or batch that does not fit
ends in a ResourceExhausted traceback after the data is generated. `nvidia-smi` answers without
TensorFlow, so the check can come first. No NVIDIA GPU, `CUDA_VISIBLE_DEVICES` set to -1 or
empty, no `nvidia-smi`, or any answer it cannot parse all mean "unknown": the check is skipped,
never guessed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

QUERY = ["--query-gpu=index,memory.free", "--format=csv,noheader,nounits"]
TIMEOUT_S = 10  # nvidia-smi answers in well under a second; a hung driver must not hang train.py.
# TensorFlow's CUDA context, kernels and allocator slack on the GPU before any array of the run.
GPU_BASE_BYTES = 512 * 2**20


def visible_indices(environ=None) -> list[int] | None:
    """The GPU indices CUDA_VISIBLE_DEVICES leaves visible, in order: None for all of them, []
    for none (-1 or empty). UUIDs or names cannot be matched to nvidia-smi's indices: None."""
    environ = os.environ if environ is None else environ
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    value = value.strip()
    if value in ("", "-1"):
        return []
    try:
        indices = [int(part) for part in value.split(",")]
    except ValueError:
        return None
    # CUDA stops at the first invalid (negative) entry.
    valid = []
    for index in indices:
        if index < 0:
            break
        valid.append(index)
    return valid


def parse_free(text: str, visible: list[int] | None) -> int | None:
    """Bytes free on the first visible GPU, from nvidia-smi's `index, memory.free` rows (MiB);
    None if the text is not such rows or the visible GPU is not among them."""
    free = {}
    for line in text.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 2:
            return None
        try:
            free[int(parts[0])] = int(parts[1]) * 2**20
        except ValueError:
            return None
    if not free:
        return None
    first = visible[0] if visible else min(free)
    return free.get(first)


def gpu_free_memory(environ=None, run=subprocess.run) -> int | None:
    """Bytes free on the GPU TensorFlow will train on; None if it will use none or it is not
    known (see the module docstring)."""
    visible = visible_indices(environ)
    if visible == []:
        return None
    program = shutil.which("nvidia-smi", path=(environ or os.environ).get("PATH"))
    if program is None:
        return None
    try:
        done = run([program, *QUERY], capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return parse_free(done.stdout, visible)
