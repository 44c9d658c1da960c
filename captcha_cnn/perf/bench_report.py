"""The benchmark's results as markdown: benchmarks/RESULTS.md, one table of every measurement and
where the classic model's training step goes."""

from __future__ import annotations

from captcha_cnn.perf.profiling import profile_rows
from captcha_cnn.perf.recipes import recipe_rows


def results_markdown(r: dict) -> str:
    """RESULTS.md from the results of `captcha_cnn.perf.bench.run`."""
    return "\n".join([
        "# Benchmarks", "",
        f"`python -m captcha_cnn.perf.bench{' --quick' if r['quick'] else ''}` on {r['date']}: "
        f"{r['machine']['cpu']}, {r['machine']['cores']} cores, "
        f"{', '.join(r['machine']['gpus']) or 'no GPU'}; "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".", "",
        "| measurement | value |", "|---|---:|",
        f"| training, this project's step (batch {r['batch_size']}, {r['image']}) | "
        f"{r['train_images_per_s']:.0f} images/s |",
        f"| training, Keras `compile` + `fit`, same model, loss and batch | "
        f"{r['keras_fit_images_per_s']:.0f} images/s |",
        f"| ours / Keras fit (median of per-window ratios) | {r['train_vs_keras_fit']:.2f} |",
        f"| training, this project's step under mixed_bfloat16 | "
        f"{r['train_bf16_images_per_s']:.0f} images/s ({r['bf16_vs_float32']:.2f}x float32) |",
        f"| training FLOPs per image (from layer shapes, forward x 3) | "
        f"{r['train_flops_per_image'] / 1e6:.0f} MFLOP |",
        f"| achieved training compute | {r['train_gflops']:.0f} GFLOP/s |",
        f"| float32 matmul peak, same run | {r['matmul_peak_gflops']:.0f} GFLOP/s |",
        f"| fraction of matmul peak | {r['fraction_of_matmul_peak']:.0%} |",
        f"| training, fast recipe's step (fast.yaml: 2x2 input pooling, batch 64) | "
        f"{r['fast_images_per_s']:.0f} images/s |",
        f"| training, the same CNN on the full-size image | "
        f"{r['fast_full_resolution_images_per_s']:.0f} images/s (input pooling: "
        f"{r['fast_input_pooling_speedup']:.1f}x) |",
        f"| captcha generation, 1 process | {r['gen_single_per_s']:.0f} /s |",
        f"| captcha generation, {r['gen_workers']} processes | {r['gen_parallel_per_s']:.0f} /s "
        f"({r['gen_parallel_vs_single']:.2f}x) |",
        f"| loading {r['cache_load_images']} cached captchas (with checksum) | "
        f"{r['cache_load_s']:.3f} s |",
        *recipe_rows(r), "",
        f"## Where the classic model's training step goes (batch {r['batch_size']})", "",
        "Each piece timed alone (captcha_cnn/perf/profiling.py); GFLOP/s for the conv and dense "
        "layers.", "",
        *profile_rows(r["step_profile"]), ""])
