"""Benchmarks measured on the machine they run on, side by side in one run.

    python -m captcha_cnn.perf.bench [--quick] [--out DIR]

Writes DIR/results.json and DIR/RESULTS.md (default DIR: benchmarks/):
- training throughput of this project's step and of idiomatic Keras (`compile` + `fit`) for the
  same model, loss and batch, timed in alternating windows so both see the same machine load;
- the model's training FLOPs per image, counted from the layer shapes, and the fraction of a
  float32 matrix-multiply peak measured in the same run;
- where the training step's time goes: each layer alone, the optimizer update, the input pipeline;
- captcha generation, one process and all cores, and the time to load a cached set;
- time to 98% whole-captcha held-out accuracy of the fast recipe (configs/fast.yaml, median over
  --repeats seeds) and of the peer recipe (configs/peer.yaml, stopped after 30 minutes), each
  from a cold start with the dataset cached, in the same run (captcha_cnn/perf/recipes.py).
Throughputs are medians over several windows after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, run_cli
from captcha_cnn.core.config import load_config
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.machine import cpu_extensions, cpu_kind, cpu_name, package_versions

# Only light imports at module level: the parallel captcha generator starts worker processes with
# "spawn", which imports this module again in each worker, and TensorFlow would cost seconds there.
from captcha_cnn.data import captchas
from captcha_cnn.perf.bench_report import results_markdown
from captcha_cnn.perf.profiling import matmul_peak_gflops, step_profile, training_flops_per_image
from captcha_cnn.perf.recipes import QUICK_RECIPE, recipes


def _timed_step(model, config: dict, images, indices, seed: int):
    """This project's compiled training step for `model` (Adam at the config's rate) and an
    endless stream of its training batches."""
    import keras

    from captcha_cnn.data.labels import LabelCodec
    from captcha_cnn.data.pipeline import training_batches
    from captcha_cnn.train.steps import make_train_step

    optimizer = keras.optimizers.Adam(config["train"]["learning_rate"])
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, config["loss"]["name"], config["loss"]["layout"],
                           config["data"]["length"])
    batches = iter(training_batches(images, indices, LabelCodec.from_config(config),
                                    config["train"]["batch_size"], seed=seed))
    return step, batches


def _images_per_s(step, batches, batch_size: int, steps: int) -> float:
    """One timed window of `steps` steps; the loop reads the signals every step, as ours does."""
    started = time.perf_counter()
    for _ in range(steps):
        {name: value.numpy() for name, value in step(*next(batches)).items()}
    return batch_size * steps / (time.perf_counter() - started)


def training_throughput(config: dict, images, indices, steps_per_window: int,
                        windows: int) -> dict:
    """Images/s of our step and of Keras fit, alternating windows; medians and the ratio."""
    import keras

    from captcha_cnn.model.networks import build_model

    batch = config["train"]["batch_size"]
    keras.utils.set_random_seed(0)
    ours_model = build_model(config)
    ours_step, ours_batches = _timed_step(ours_model, config, images, indices, seed=0)

    # The same step under mixed bfloat16 (float32 logits and loss), for the precision option.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    bf16_model = build_model(config)
    keras.mixed_precision.set_global_policy("float32")
    bf16_step, bf16_batches = _timed_step(bf16_model, config, images, indices, seed=2)

    def ours_window():
        return _images_per_s(ours_step, ours_batches, batch, steps_per_window)

    def bf16_window():
        return _images_per_s(bf16_step, bf16_batches, batch, steps_per_window)

    fit_window = _keras_fit_window(config, images, indices, steps_per_window)
    ours_window(), fit_window(), bf16_window()  # Warm-up: tracing and first allocations.
    ours, fit, bf16 = [], [], []
    for _ in range(windows):
        ours.append(ours_window())
        fit.append(fit_window())
        bf16.append(bf16_window())
    return {"train_images_per_s": statistics.median(ours),
            "keras_fit_images_per_s": statistics.median(fit),
            "train_vs_keras_fit": statistics.median(o / f for o, f in zip(ours, fit, strict=True)),
            "train_bf16_images_per_s": statistics.median(bf16),
            "bf16_vs_float32": statistics.median(b / o for b, o in zip(bf16, ours, strict=True)),
            "train_windows_images_per_s": ours, "keras_fit_windows_images_per_s": fit,
            "parameters": ours_model.count_params(),
            "train_flops_per_image": training_flops_per_image(ours_model)}


def _keras_fit_window(config: dict, images, indices, steps_per_window: int):
    """The same model and loss trained by Keras's own `fit`: a function that runs one window of
    `steps_per_window` steps and returns its images/s."""
    import keras

    from captcha_cnn.data.labels import LabelCodec
    from captcha_cnn.data.pipeline import training_batches
    from captcha_cnn.model.losses import per_example_loss
    from captcha_cnn.model.networks import build_model

    batch, length = config["train"]["batch_size"], config["data"]["length"]
    loss_name, layout = config["loss"]["name"], config["loss"]["layout"]
    model = build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(config["train"]["learning_rate"]),
                  loss=lambda y, o: per_example_loss(loss_name, layout, y, o, length))
    batches = training_batches(images, indices, LabelCodec.from_config(config), batch, seed=1)

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started

    timer = EpochTimer()

    def window():
        model.fit(batches, steps_per_epoch=steps_per_window, epochs=1, verbose=0, shuffle=False,
                  callbacks=[timer])
        return batch * steps_per_window / timer.seconds

    return window


def fast_model_throughput(images, indices, quick: bool, steps_per_window: int,
                          windows: int) -> dict:
    """Images/s of the fast recipe's step, with its input pooling and without (the same CNN on
    the full image), in alternating windows, on `images` (their size, fast.yaml's settings)."""
    import keras

    from captcha_cnn.data.labels import LabelCodec
    from captcha_cnn.model.networks import build_fast

    config, _ = load_config("fast.yaml", QUICK_RECIPE if quick else [])
    batch = config["train"]["batch_size"]
    outputs = LabelCodec.from_config(config).width
    timed = {}
    for downsample in (True, False):
        keras.utils.set_random_seed(0)
        model = build_fast(*images.shape[1:3], outputs, config["model"]["dropout"],
                           downsample=downsample)
        timed[downsample] = _timed_step(model, config, images, indices, seed=0)
        _images_per_s(*timed[downsample], batch, 1)  # Tracing.
    pooled, full = [], []
    for _ in range(windows):
        pooled.append(_images_per_s(*timed[True], batch, steps_per_window))
        full.append(_images_per_s(*timed[False], batch, steps_per_window))
    return {"fast_images_per_s": statistics.median(pooled),
            "fast_full_resolution_images_per_s": statistics.median(full),
            "fast_input_pooling_speedup": statistics.median(
                p / f for p, f in zip(pooled, full, strict=True))}


def generation_speed(config: dict, size: int) -> dict:
    spec = captchas.DatasetSpec.from_config(config, "train")
    spec = captchas.DatasetSpec(**{**spec.__dict__, "size": size, "seed": 12345})
    started = time.perf_counter()
    captchas.generate(spec, workers=1, progress=False)
    single = size / (time.perf_counter() - started)
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    captchas.generate(spec, workers=workers, progress=False)
    parallel = size / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as folder:
        captchas.load_or_generate(spec, Path(folder), progress=False)
        started = time.perf_counter()
        captchas.load_or_generate(spec, Path(folder), progress=False)
        load = time.perf_counter() - started
    return {"gen_single_per_s": single, "gen_parallel_per_s": parallel,
            "gen_parallel_vs_single": parallel / single, "gen_workers": workers,
            "cache_load_s": load, "cache_load_images": size}


def _setup(quick: bool, train_size: int):
    """The classic config (tiny with `quick`), its training captchas, and the results' header."""
    import tensorflow as tf

    # Quick: tiny images (the fast model needs sides of 32 or more) and a narrow dense layer.
    config, _ = load_config("hide_correct.yaml", ["data.width=64", "data.height=32",
                                                  "model.dense_units=64"] if quick else [])
    spec = captchas.DatasetSpec(**{**captchas.DatasetSpec.from_config(config, "train").__dict__,
                                   "size": train_size})
    images, indices = captchas.generate(spec, progress=False)
    header = {"date": date.today().isoformat(), "quick": quick, "machine": {
        "cpu": cpu_name(), "cpu_extensions": cpu_extensions(), "cores": os.cpu_count(),
        "platform": platform.platform(),
        "gpus": [gpu.name for gpu in tf.config.list_physical_devices("GPU")]},
        "versions": package_versions(), "batch_size": config["train"]["batch_size"],
        "image": f"{config['data']['width']}x{config['data']['height']}"}
    return config, images, indices, header


def _throughput(config: dict, images, indices, quick: bool, steps_per_window: int,
                windows: int) -> dict:
    """The classic step's throughput (float32, bfloat16, Keras fit) and the matmul peak."""
    results = training_throughput(config, images, indices, steps_per_window, windows)
    results["train_gflops"] = results["train_images_per_s"] * results["train_flops_per_image"] / 1e9
    results["matmul_peak_gflops"] = matmul_peak_gflops(1024 if quick else 4096, 3 if quick else 7)
    results["fraction_of_matmul_peak"] = results["train_gflops"] / results["matmul_peak_gflops"]
    return results


def run_throughput(quick: bool, out: Path) -> dict:
    """Only the throughput and the matmul peak (minutes, not the full bench's 20+), written to
    DIR/throughput-<cpu kind>.json, so that machines of several kinds can be compared."""
    config, images, indices, results = _setup(quick, 64 if quick else 640)
    started = time.perf_counter()
    results.update(_throughput(config, images, indices, quick, steps_per_window=3 if quick else 10,
                               windows=2 if quick else 3))
    results["bench_seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"throughput-{cpu_kind(results['machine']['cpu_extensions'])}.json"
    write_atomically(path, (json.dumps(results, indent=2) + "\n").encode())
    return results


def run(quick: bool, out: Path, repeats: int = 3, data_dir: Path | None = None) -> dict:
    config, images, indices, results = _setup(quick, 512 if quick else 4096)
    started = time.perf_counter()
    results.update(_throughput(config, images, indices, quick, steps_per_window=5 if quick else 20,
                               windows=3 if quick else 5))
    results["step_profile"] = step_profile(
        config, images, indices, step_ms=1000 * results["batch_size"] / results["train_images_per_s"],
        calls=2 if quick else 10, windows=2 if quick else 5)
    results.update(fast_model_throughput(images, indices, quick,
                                         steps_per_window=3 if quick else 20,
                                         windows=2 if quick else 5))
    results.update(generation_speed(config, 64 if quick else 1000))
    if quick:  # A private cache: the tiny recipe sets must not land in data/.
        with tempfile.TemporaryDirectory() as folder:
            results.update(recipes(quick, repeats, Path(folder)))
    else:
        results.update(recipes(quick, repeats, data_dir))
    results["bench_seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    write_atomically(out / "RESULTS.md", results_markdown(results).encode())
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: under a minute")
    parser.add_argument("--out", type=Path, default=Path("benchmarks"))
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of the fast recipe, its time to 98%% being their median "
                        "(default: 3, or 1 with --quick)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="captcha cache for the recipes (default: data/)")
    parser.add_argument("--throughput-only", action="store_true",
                        help="only the classic step's throughput (float32, bfloat16, Keras fit) "
                        "and the matmul peak: a few minutes; writes DIR/throughput-<cpu>.json")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    if args.throughput_only:
        results = run_throughput(args.quick, args.out)
        print(json.dumps({k: v for k, v in results.items() if not isinstance(v, list)}, indent=2))
        return
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    results = run(args.quick, args.out, repeats, args.data_dir)
    print(results_markdown(results))


if __name__ == "__main__":
    sys.exit(run_cli(main))
