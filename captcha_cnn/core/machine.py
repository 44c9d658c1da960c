"""What machine a run is on: the CPU, its vector extensions and the package versions.

The extensions matter for reading any timing: the same 2-core EPYC runs a float32 matmul about
6x faster with AVX-512 than with AVX2 only, and only CPUs with AVX512_BF16 or AMX compute
bfloat16 natively (elsewhere `train.precision=mixed_bfloat16` is emulated). No TensorFlow here:
this module is cheap to import.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# /proc/cpuinfo flag -> the name people know it by, in the order they are reported.
VECTOR_EXTENSIONS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512",
                     "avx512_vnni": "AVX512_VNNI", "avx512_bf16": "AVX512_BF16",
                     "amx_tile": "AMX", "amx_bf16": "AMX_BF16"}
NATIVE_BFLOAT16 = ("AVX512_BF16", "AMX_BF16")


def cpu_kind(extensions: list[str]) -> str:
    """A short name for the kind of CPU, for file names and tables: avx512, avx2 or other."""
    return "avx512" if "AVX-512" in extensions else "avx2" if "AVX2" in extensions else "other"


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_extensions(flags: str | None = None) -> list[str]:
    """The vector extensions of VECTOR_EXTENSIONS this CPU has (from /proc/cpuinfo's flags;
    empty where that file does not exist)."""
    present = set((flags if flags is not None else _cpuinfo_field("flags") or "").split())
    return [name for flag, name in VECTOR_EXTENSIONS.items() if flag in present]


def has_native_bfloat16(extensions: list[str] | None = None) -> bool:
    extensions = cpu_extensions() if extensions is None else extensions
    return any(name in extensions for name in NATIVE_BFLOAT16)


def describe_cpu() -> dict:
    """The CPU as environment.json records it."""
    return {"name": cpu_name(), "extensions": cpu_extensions()}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "captcha", "numpy", "pillow"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions
