"""Where a training step's time goes, measured piece by piece on the machine it runs on.

Each layer is timed alone, forward and backward, on a random batch of its input shape (the first
layer without the gradient for the image, which the real step does not compute either); then the
optimizer's update of every weight and the input pipeline's delivery of one batch. The pieces'
sum is not the step's time (the step also computes the loss and its signals, and the pieces run
in sequence where the step may overlap them), but their shares show what bounds the step.
"""

from __future__ import annotations

import statistics
import time


def _median_ms(function, calls: int, windows: int) -> float:
    """Median over `windows` of the mean time of `calls` calls, in milliseconds (after one
    warm-up window, which also traces a tf.function)."""
    function()
    times = []
    for _ in range(windows + 1):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - started) / calls)
    return 1000 * statistics.median(times[1:])


def layer_flops(layer) -> float:
    """Training FLOPs per image of a conv or dense layer (forward multiply-adds x 2 x 3), else 0."""
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, filters = layer.output.shape
        kernel_h, kernel_w = layer.kernel_size
        return 6.0 * height * width * filters * kernel_h * kernel_w * layer.input.shape[-1]
    if isinstance(layer, keras.layers.Dense):
        return 6.0 * layer.input.shape[-1] * layer.units
    return 0.0


def layer_times(model, batch: int, calls: int, windows: int) -> list[dict]:
    """Forward + backward milliseconds per step of each layer alone, with its FLOPs and rate."""
    import keras
    import tensorflow as tf

    rows = []
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for index, layer in enumerate(layers):
        inputs = tf.random.uniform((batch, *layer.input.shape[1:]))
        wants_input_gradient = index > 0

        @tf.function
        def forward_backward(x, layer=layer, wants_input_gradient=wants_input_gradient):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(layer(x, training=True))
            sources = ([x] if wants_input_gradient else []) + layer.trainable_variables
            gradients = tape.gradient(total, sources) if sources else []
            return [tf.reduce_sum(g) for g in gradients] + [total]

        def call(forward_backward=forward_backward, inputs=inputs):
            return [t.numpy() for t in forward_backward(inputs)]

        milliseconds = _median_ms(call, calls, windows)
        flops = layer_flops(layer) * batch
        rows.append({"layer": layer.name, "kind": type(layer).__name__,
                     "output": "x".join(str(d) for d in layer.output.shape[1:]),
                     "ms": milliseconds, "gflops_per_s": flops / milliseconds / 1e6 if flops else None})
    return rows


def optimizer_update_ms(model, calls: int, windows: int) -> float:
    """Milliseconds of one Adam update of every trainable weight (fixed, tiny gradients)."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(1e-9)
    optimizer.build(model.trainable_variables)
    gradients = [tf.fill(v.shape, 1e-12) for v in model.trainable_variables]

    @tf.function
    def update():
        optimizer.apply(gradients, model.trainable_variables)
        return optimizer.iterations

    return _median_ms(lambda: update().numpy(), calls, windows)


def input_pipeline_ms(images, indices, codec, batch: int, calls: int, windows: int) -> float:
    """Milliseconds for the training input pipeline to deliver one batch, nothing else running."""
    from captcha_cnn.data.pipeline import training_batches

    batches = iter(training_batches(images, indices, codec, batch, seed=0))
    return _median_ms(lambda: next(batches)[0].numpy(), calls, windows)


def step_profile(config: dict, images, indices, step_ms: float, calls: int,
                 windows: int) -> dict:
    """The pieces of the config's training step, next to the measured step time `step_ms`."""
    import keras

    from captcha_cnn.data.labels import LabelCodec
    from captcha_cnn.model.networks import build_model

    batch = config["train"]["batch_size"]
    keras.utils.set_random_seed(0)
    model = build_model(config)
    layers = layer_times(model, batch, calls, windows)
    return {"step_ms": step_ms, "layers": layers,
            "layers_ms": sum(row["ms"] for row in layers),
            "optimizer_update_ms": optimizer_update_ms(model, calls, windows),
            "input_pipeline_ms": input_pipeline_ms(images, indices, LabelCodec.from_config(config),
                                                   batch, calls, windows)}


def profile_rows(profile: dict) -> list[str]:
    """A markdown table of the profile: each piece's milliseconds and share of their sum."""
    pieces = [(f"{row['layer']} ({row['kind']}, out {row['output']})", row["ms"],
               row["gflops_per_s"]) for row in profile["layers"]]
    pieces += [("Adam update of every weight", profile["optimizer_update_ms"], None),
               ("input pipeline, one batch", profile["input_pipeline_ms"], None)]
    total = sum(ms for _, ms, _ in pieces)
    lines = ["| piece (alone, forward + backward) | ms per step | share | GFLOP/s |",
             "|---|---:|---:|---:|"]
    for name, ms, rate in pieces:
        lines.append(f"| {name} | {ms:.1f} | {ms / total:.0%} | "
                     f"{f'{rate:.0f}' if rate else ''} |")
    lines.append(f"| sum of the pieces | {total:.1f} | | |")
    lines.append(f"| the whole step, measured | {profile['step_ms']:.1f} | | |")
    return lines


def training_flops_per_image(model) -> float:
    """Forward multiply-adds of the conv and dense layers, x2 for FLOPs, x3 for forward + backward
    (the backward pass costs about twice the forward: gradients for inputs and for weights)."""
    return sum(layer_flops(layer) for layer in model.layers)


def matmul_peak_gflops(size: int, windows: int) -> float:
    import tensorflow as tf

    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    matmul().numpy()
    times = []
    for _ in range(windows):
        started = time.perf_counter()
        matmul().numpy()
        times.append(time.perf_counter() - started)
    return 2.0 * size**3 / statistics.median(times) / 1e9
