"""The machine a run is on: vector extensions from /proc/cpuinfo flags, and what follows."""

from pathlib import Path

import pytest

from captcha_cnn.core import machine
from captcha_cnn.core.machine import (
    VECTOR_EXTENSIONS,
    cpu_extensions,
    cpu_kind,
    describe_cpu,
    has_native_bfloat16,
)

# Abridged flag lines of the two kinds of 2-core EPYC this project has run on.
AVX2_ONLY = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2"
AVX512_BF16 = AVX2_ONLY + " avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_bf16"
SAPPHIRE_RAPIDS = AVX512_BF16 + " amx_bf16 amx_tile amx_int8"


@pytest.mark.parametrize("flags, extensions, kind, native_bf16", [
    (AVX2_ONLY, ["AVX2", "FMA"], "avx2", False),
    (AVX512_BF16, ["AVX2", "FMA", "AVX-512", "AVX512_VNNI", "AVX512_BF16"], "avx512", True),
    (SAPPHIRE_RAPIDS, ["AVX2", "FMA", "AVX-512", "AVX512_VNNI", "AVX512_BF16", "AMX", "AMX_BF16"],
     "avx512", True),
    ("fpu sse sse2", [], "other", False),
    ("", [], "other", False),
])
def test_extensions_kind_and_bfloat16_from_flags(flags, extensions, kind, native_bf16):
    assert cpu_extensions(flags) == extensions
    assert cpu_kind(extensions) == kind
    assert has_native_bfloat16(extensions) is native_bf16


# /proc/cpuinfo as Linux writes it: one block per logical CPU, tab-padded keys.
CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: {flags}
bugs\t\t: sysret_ss_attrs spectre_v1

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: {flags}
"""


def use_cpuinfo(monkeypatch, path: Path) -> None:
    """Make the machine module read `path` where it reads /proc/cpuinfo."""
    real_path = machine.Path
    monkeypatch.setattr(machine, "Path",
                        lambda name: path if name == "/proc/cpuinfo" else real_path(name))


@pytest.mark.parametrize("flags, name, extensions, kind, native_bf16", [
    (AVX2_ONLY, "AMD EPYC 9R14 96-Core Processor", ["AVX2", "FMA"], "avx2", False),
    (AVX512_BF16, "AMD EPYC 9R14 96-Core Processor",
     ["AVX2", "FMA", "AVX-512", "AVX512_VNNI", "AVX512_BF16"], "avx512", True),
], ids=["avx2 only", "avx512 with bf16"])
def test_a_cpuinfo_file_is_read_into_the_names_people_know(flags, name, extensions, kind,
                                                           native_bf16, tmp_path, monkeypatch):
    """The whole path from the file: the tab-padded `model name` and `flags` keys, the flags
    turned into the upper-case names environment.json records, and the verdicts on them."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(flags=flags))
    use_cpuinfo(monkeypatch, cpuinfo)
    cpu = describe_cpu()
    assert cpu == {"name": name, "extensions": extensions}
    assert cpu_kind(cpu["extensions"]) == kind
    assert has_native_bfloat16() is native_bf16  # Reads the file itself when given nothing.


def test_without_a_cpuinfo_file_the_cpu_is_named_and_has_no_known_extensions(tmp_path,
                                                                             monkeypatch):
    use_cpuinfo(monkeypatch, tmp_path / "missing")
    cpu = describe_cpu()
    assert cpu["name"] and cpu["extensions"] == []
    assert cpu_kind(cpu["extensions"]) == "other" and has_native_bfloat16() is False


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo here")
def test_this_machine_is_described_by_its_own_flags():
    """Against the raw flags of this machine: each extension reported iff its flag is there."""
    first_flags_line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                            if line.startswith("flags"))
    flags = set(first_flags_line.split(":", 1)[1].split())
    cpu = describe_cpu()
    assert cpu["name"]
    assert {VECTOR_EXTENSIONS[flag] for flag in flags & VECTOR_EXTENSIONS.keys()} == \
        set(cpu["extensions"])
    assert cpu_kind(cpu["extensions"]) == \
        ("avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other")


@pytest.mark.parametrize("native", [False, True])
def test_bfloat16_warns_only_on_a_cpu_without_it(native, smoke_config, shared_data_dir, tmp_path,
                                                 monkeypatch, capsys):
    from captcha_cnn.train import announce
    from captcha_cnn.train import loop as training

    monkeypatch.setattr(announce, "has_native_bfloat16", lambda: native)
    try:
        training.train(smoke_config("train.precision=mixed_bfloat16", "train.steps=1",
                                    "train.eval_every=1"), "run", tmp_path / "run",
                       data_dir=shared_data_dir, progress=False)
    finally:  # The policy is global: later tests build float32 models.
        training.keras.mixed_precision.set_global_policy("float32")
    warned = "neither AVX512_BF16 nor AMX" in capsys.readouterr().err
    assert warned is not native
