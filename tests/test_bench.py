"""The benchmark's quick mode: the JSON's shape and consistency, not its (machine-dependent) values."""

import json

from conftest import run_command

POSITIVE = ("train_images_per_s", "keras_fit_images_per_s", "train_bf16_images_per_s",
            "train_gflops", "matmul_peak_gflops", "gen_single_per_s", "gen_parallel_per_s",
            "cache_load_s", "train_flops_per_image")
NOT_YET = ("fast_seconds_to_98", "fast_steps_to_98", "peer_seconds_to_98", "peer_reached_98")


def test_quick_benchmark_writes_consistent_results(tmp_path):
    result = run_command("-m", "captcha_cnn.bench", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    for key in POSITIVE:
        assert results[key] > 0, key
    for key in NOT_YET:
        assert key in results and results[key] is None
    assert results["train_gflops"] == results["train_images_per_s"] * \
        results["train_flops_per_image"] / 1e9
    ratio = results["train_images_per_s"] / results["keras_fit_images_per_s"]
    assert 0.2 < ratio < 5 and 0.2 < results["train_vs_keras_fit"] < 5
    assert 0 < results["fraction_of_matmul_peak"] < 2
    assert "| ours / Keras fit" in (tmp_path / "RESULTS.md").read_text()
