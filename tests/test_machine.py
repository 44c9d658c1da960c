"""The machine a run is on: vector extensions from /proc/cpuinfo flags, and what follows."""

import pytest

from captcha_cnn.core.machine import cpu_extensions, cpu_kind, describe_cpu, has_native_bfloat16

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


def test_this_machine_is_described():
    cpu = describe_cpu()
    assert cpu["name"] and isinstance(cpu["extensions"], list)
    assert "avx2" not in cpu["extensions"]  # The names people know, not the raw flags.


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
