"""The benchmark's quick mode: the JSON's shape and consistency, not its (machine-dependent) values."""

import json

import pytest

from captcha_cnn.perf import bench

POSITIVE = ("train_images_per_s", "keras_fit_images_per_s", "train_bf16_images_per_s",
            "train_gflops", "matmul_peak_gflops", "gen_single_per_s", "gen_parallel_per_s",
            "cache_load_s", "train_flops_per_image", "fast_images_per_s",
            "fast_full_resolution_images_per_s", "fast_input_pooling_speedup")
RECIPE_KEYS = ("config", "target_whole_acc", "reached", "seconds_to_target", "steps_to_target",
               "seconds_run", "steps_run", "stop_reason", "eval_share", "final_whole_acc",
               "best_whole_acc")


@pytest.mark.slow
def test_quick_benchmark_writes_consistent_results(tmp_path, run_main):
    result = run_main(bench.main, "--quick", "--out", str(tmp_path))
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
    profile = results["step_profile"]
    assert [row["layer"] for row in profile["layers"]] == [
        "conv1", "pool1", "dropout1", "conv2", "pool2", "dropout2", "conv3", "pool3", "dropout3",
        "flatten", "dense", "dropout_dense", "logits"]
    assert all(row["ms"] > 0 for row in profile["layers"])
    # FLOP rates only for the layers that multiply: conv and dense.
    assert [row["layer"] for row in profile["layers"] if row["gflops_per_s"]] == [
        "conv1", "conv2", "conv3", "dense", "logits"]
    assert profile["layers_ms"] == sum(row["ms"] for row in profile["layers"])
    assert profile["optimizer_update_ms"] > 0 and profile["input_pipeline_ms"] > 0
    assert profile["step_ms"] == 1000 * results["batch_size"] / results["train_images_per_s"]
    table = (tmp_path / "RESULTS.md").read_text()
    assert "| conv1 (Conv2D, out 32x64x32) |" in table and "| the whole step, measured |" in table
    assert "| ours / Keras fit" in table
    assert "| time to 98%, peer.yaml (ypwhs/captcha_break's CNN) | not reached" in table


def recipe_run(reached, seconds, steps, run_seconds):
    return {"config": "x.yaml", "target_whole_acc": 0.98, "reached": reached,
            "seconds_to_target": seconds if reached else None,
            "steps_to_target": steps if reached else None, "seconds_run": run_seconds,
            "steps_run": steps, "stop_reason": "target" if reached else "time_limit",
            "eval_share": 0.04,
            "final_whole_acc": 0.985 if reached else 0.9, "best_whole_acc": 0.985}


def test_time_to_98_is_a_median_and_a_ratio_or_a_lower_bound():
    from captcha_cnn.perf.recipes import compare_recipes, recipe_rows

    fast = [recipe_run(True, s, n, s + 5) for s, n in ((120.0, 900), (100.0, 800), (150.0, 1000))]
    reached = compare_recipes(fast, recipe_run(True, 600.0, 3000, 610.0))
    assert reached["fast_seconds_to_98"] == 120.0 and reached["fast_steps_to_98"] == 900
    assert reached["peer_vs_fast"] == 5.0 and not reached["peer_vs_fast_is_lower_bound"]
    assert "| peer / fast (median of the fast runs) | 5.0x |" in recipe_rows(reached)

    stopped = compare_recipes(fast, recipe_run(False, None, 9000, 1800.0))
    assert stopped["peer_reached_98"] is False and stopped["peer_seconds_to_98"] is None
    assert stopped["peer_vs_fast"] == 15.0 and stopped["peer_vs_fast_is_lower_bound"]
    rows = recipe_rows(stopped)
    assert "| peer / fast (median of the fast runs) | at least 15.0x |" in rows
    assert any("not reached: 90.0% after 1800 s, 9000 steps (time_limit; evaluation 4.0% of the "
               "run)" in row for row in rows)

    one_missed = compare_recipes([*fast[:2], recipe_run(False, None, 3000, 400.0)],
                                 recipe_run(True, 600.0, 3000, 610.0))
    assert one_missed["fast_reached_98"] is False and one_missed["peer_vs_fast"] is None


def test_training_flops_are_counted_from_the_layer_shapes(smoke_config):
    """The classic model at 160x60: forward multiply-adds per image, x2 (FLOPs) x3 (backward)."""
    from captcha_cnn.model.networks import build_model
    from captcha_cnn.perf.profiling import layer_flops, training_flops_per_image

    model = build_model(smoke_config("data.width=160", "data.height=60", "model.dense_units=1024"))
    conv1 = 60 * 160 * 32 * 3 * 3 * 1
    conv2 = 30 * 80 * 64 * 3 * 3 * 32
    conv3 = 15 * 40 * 64 * 3 * 3 * 64
    dense = 8 * 20 * 64 * 1024
    logits = 1024 * 40
    assert layer_flops(model.get_layer("conv1")) == 6 * conv1
    assert layer_flops(model.get_layer("pool1")) == 0
    assert training_flops_per_image(model) == 6 * (conv1 + conv2 + conv3 + dense + logits)
    assert training_flops_per_image(model) == 477_880_320


@pytest.mark.slow
def test_throughput_only_writes_one_file_per_kind_of_cpu(tmp_path):
    from captcha_cnn.core.machine import cpu_kind
    from captcha_cnn.perf.bench import run_throughput

    results = run_throughput(quick=True, out=tmp_path)
    kind = cpu_kind(results["machine"]["cpu_extensions"])
    assert [p.name for p in tmp_path.iterdir()] == [f"throughput-{kind}.json"]
    assert results["train_images_per_s"] > 0 and results["train_bf16_images_per_s"] > 0
    assert results["bf16_vs_float32"] > 0 and results["matmul_peak_gflops"] > 0
    assert "fast_recipe" not in json.dumps(results) and "step_profile" not in results
