"""What the doctor's callback costs `model.fit`: the same fit timed with and without it, in turns.

    python -m captcha_cnn.perf.doctor_overhead                 # benchmarks/doctor-overhead.json
    python -m captcha_cnn.perf.doctor_overhead --every 10 --repeats 5

The model is a small CNN (two 3x3 convolutions, 32 and 64 channels, a 128-unit dense layer) on
scikit-learn's digits upscaled to 32x32: 1,797 images, batch 32, 5 epochs (285 batches), so a
training step costs what a real one does rather than the microseconds an MLP on 8x8 digits
would. Fits alternate (without, with, without, ...) so drift in the machine's speed hits both.
Whole fits of a few seconds vary by 10% or more on a shared 2-core machine, more than the
doctor costs, so the doctor's own look is also timed alone (median of 30 looks) and the figure
is the looks' share of a fit: looks per fit x one look / one fit without the doctor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, run_cli
from captcha_cnn.core.config import REPO_ROOT
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.machine import cpu_extensions, cpu_kind, cpu_name

EPOCHS, BATCH_SIZE, PROBE_SIZE = 5, 32, 128
TIMED_LOOKS = 30


def digits_32():
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    data = load_digits()
    images = tf.image.resize(data.images[..., None] / 16.0, (32, 32)).numpy().astype(np.float32)
    return images, np.eye(10, dtype=np.float32)[data.target]


def small_cnn():
    import keras

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def time_fit(images, labels, every: int | None) -> float:
    """Seconds for one fit (after a warm-up epoch that compiles everything), with the doctor
    looking every `every` batches, or without it (None)."""
    import keras

    from captcha_cnn.doctor import Doctor

    keras.utils.set_random_seed(0)
    model = small_cnn()
    callbacks = [] if every is None else [Doctor((images[:PROBE_SIZE], labels[:PROBE_SIZE]),
                                                 every=every, verbose=False)]
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=1, verbose=0, callbacks=callbacks)
    started = time.perf_counter()
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0,
              callbacks=callbacks)
    return time.perf_counter() - started


def time_one_look(images, labels, every: int) -> float:
    """Seconds for one of the doctor's looks (compiled once, as in a fit), median of TIMED_LOOKS."""
    import keras

    from captcha_cnn.doctor import Doctor

    keras.utils.set_random_seed(0)
    model = small_cnn()
    doctor = Doctor((images[:PROBE_SIZE], labels[:PROBE_SIZE]), every=every, verbose=False)
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=1, verbose=0, callbacks=[doctor])
    times = []
    for _ in range(TIMED_LOOKS):
        started = time.perf_counter()
        doctor._observe(doctor.step)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=int, default=50, help="the doctor's cadence in batches")
    parser.add_argument("--repeats", type=int, default=3, help="fits of each kind")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "doctor-overhead.json")
    args = parser.parse_args(argv)
    import_tensorflow_quietly(say_device=False)
    images, labels = digits_32()
    times = {"without": [], "with": []}
    for _ in range(args.repeats):
        times["without"].append(time_fit(images, labels, None))
        times["with"].append(time_fit(images, labels, args.every))
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    batches = EPOCHS * -(-len(images) // BATCH_SIZE)
    looks = batches // args.every + 1  # And one at the start of each fit.
    look_s = time_one_look(images, labels, args.every)
    result = {"every": args.every, "epochs": EPOCHS, "batches": batches, "looks_per_fit": looks,
              "seconds": times, "median_s": medians, "look_s": round(look_s, 5),
              "looks_share": round(looks * look_s / medians["without"], 4),
              "whole_fit_ratio": round(medians["with"] / medians["without"], 4),
              "cpu": cpu_name(), "cpu_kind": cpu_kind(cpu_extensions())}
    write_atomically(args.out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"one look {look_s * 1000:.1f} ms; {looks} looks in a fit of {batches} batches without "
          f"the doctor {medians['without']:.2f} s: {result['looks_share']:.1%} of its time. Whole "
          f"fits with/without: {medians['with']:.2f}/{medians['without']:.2f} s (medians of "
          f"{args.repeats}) on {result['cpu_kind']}; wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
