"""The benchmark's quick mode: the JSON's shape and consistency, not its (machine-dependent) values."""

import json

from conftest import run_command

POSITIVE = ("train_images_per_s", "keras_fit_images_per_s", "train_bf16_images_per_s",
            "train_gflops", "matmul_peak_gflops", "gen_single_per_s", "gen_parallel_per_s",
            "cache_load_s", "train_flops_per_image")
RECIPE_KEYS = ("config", "target_whole_acc", "reached", "seconds_to_target", "steps_to_target",
               "seconds_run", "steps_run", "stop_reason", "final_whole_acc", "best_whole_acc")


def test_quick_benchmark_writes_consistent_results(tmp_path):
    result = run_command("-m", "captcha_cnn.bench", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    for key in POSITIVE:
        assert results[key] > 0, key
    # The recipes ran end to end at tiny size: 4 steps each, far from the 98% target.
    runs = [*results["fast_runs"], results["peer_run"]]
    assert [run["config"] for run in runs] == ["fast.yaml", "peer.yaml"]
    for run in runs:
        assert set(run) == set(RECIPE_KEYS)
        assert run["target_whole_acc"] == 0.98 and run["steps_run"] == 4
        assert run["stop_reason"] == "steps" and run["seconds_run"] > 0
        assert run["reached"] is (run["seconds_to_target"] is not None)
        assert 0 <= run["final_whole_acc"] <= run["best_whole_acc"] <= 1
    assert results["fast_reached_98"] is all(run["reached"] for run in results["fast_runs"])
    assert results["peer_reached_98"] is results["peer_run"]["reached"]
    if not results["fast_reached_98"]:
        assert results["fast_seconds_to_98"] is None and results["peer_vs_fast"] is None
    assert results["train_gflops"] == results["train_images_per_s"] * \
        results["train_flops_per_image"] / 1e9
    ratio = results["train_images_per_s"] / results["keras_fit_images_per_s"]
    assert 0.2 < ratio < 5 and 0.2 < results["train_vs_keras_fit"] < 5
    assert 0 < results["fraction_of_matmul_peak"] < 2
    table = (tmp_path / "RESULTS.md").read_text()
    assert "| ours / Keras fit" in table
    assert "| time to 98%, peer.yaml (ypwhs/captcha_break's CNN) | not reached" in table
