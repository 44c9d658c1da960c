"""What the doctor reads from a Keras model, whatever its kind (functional, sequential with or
without an Input, nested, subclassed): the layers whose units can die or saturate, the layers
that own trainable weights, what bounds each output, and one compiled look.

Unit outputs are caught while the look is traced: each watched layer's `call` is wrapped for the
trace only, so a layer deep inside a nested or subclassed model is read as easily as a top-level
one, with no second model built over the graph (which nested and subclassed models lack).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import keras
import tensorflow as tf

# Activation names by what their units can do: die (a plain ReLU passes no gradient below 0) or
# saturate (tanh and sigmoid pass almost none at their bounds). A leaky ReLU, ELU, SELU, GELU or
# swish always passes some gradient: never watched.
DYING = ("relu", "relu6")
SATURATING = ("tanh", "sigmoid")
# A tanh or sigmoid unit whose largest slope over the probe is below this share of the
# steepest (1 - tanh^2 < 0.01: |tanh| > 0.995) is pinned at a bound for every probe input.
SATURATED_SLOPE = 0.01
# What an output activation can reach.
RANGES = {"relu": (0.0, float("inf")), "relu6": (0.0, 6.0), "softplus": (0.0, float("inf")),
          "exponential": (0.0, float("inf")), "sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0),
          "tanh": (-1.0, 1.0), "elu": (-1.0, float("inf"))}


def activation_of(layer) -> str | None:
    """The name of the activation a layer's output comes out of ('linear' for none), None if
    it is not known."""
    if isinstance(layer, keras.layers.ReLU):
        plain = not float(layer.negative_slope) and not float(layer.threshold)
        return ("relu6" if layer.max_value == 6 else "relu") if plain else "leaky_relu"
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None or isinstance(layer, keras.layers.RNN) or hasattr(layer, "cell"):
        return None  # A recurrent layer's activations live inside its cell.
    return getattr(activation, "__name__", "") or None


def all_layers(model):
    """Every layer, inside nested models too, outermost first."""
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def weight_owners(model, prefix: str = "") -> list[tuple[str, list]]:
    """(name, trainable weights) per layer that owns some, in order, nested models opened (their
    layers named 'inner/dense'); frozen layers own none."""
    owners = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            owners += weight_owners(layer, f"{prefix}{layer.name}/")
        elif layer.trainable_weights:
            owners.append((prefix + layer.name, list(layer.trainable_weights)))
    return owners


def output_layers(model) -> list:
    """The layer behind each model output, where the model has a graph; else []."""
    try:
        outputs = tf.nest.flatten(model.outputs)
    except (AttributeError, ValueError):
        return []
    layers = []
    for tensor in outputs:
        history = getattr(tensor, "_keras_history", None)
        layer = getattr(history, "operation", None)
        while isinstance(layer, keras.Model):  # A nested model's output: its last layer.
            inner = output_layers(layer)
            layer = inner[0] if inner else None
        layers.append(layer)
    return layers


@dataclass
class Watched:
    """The layers the look reads units from: `kinds[name]` is 'relu' or a saturating name;
    `outputs` names the watched layers that are model outputs (ReLU outputs only)."""

    layers: list
    kinds: dict
    outputs: set = field(default_factory=set)


def watched_units(model) -> Watched:
    """Layers whose units can die or saturate. Of the model's outputs only ReLU ones are
    watched: an output unit that never fires gives its class or value 0 for every input and
    gets no gradient, while a confident sigmoid output sits at its bounds by design."""
    outputs = {id(layer) for layer in output_layers(model)}
    watched = Watched([], {})
    seen = set()
    for layer in all_layers(model):
        kind = activation_of(layer)
        output = id(layer) in outputs
        if id(layer) in seen or kind not in (DYING if output else DYING + SATURATING):
            continue
        seen.add(id(layer))
        watched.layers.append(layer)
        watched.kinds[layer.name] = "relu" if kind in DYING else kind
        if output:
            watched.outputs.add(layer.name)
    return watched


def unit_readings(kind: str, values: tf.Tensor) -> tf.Tensor:
    """Per unit (last axis), over every probe input and position: for a ReLU its largest output
    (0: never fires); for tanh and sigmoid two rows, its largest slope as a share of the
    steepest (near 0: pinned at a bound for every input) and the share of inputs for which it
    is pinned (inputs of very different sizes pin a unit for most of them, not all)."""
    values = tf.reshape(tf.cast(values, tf.float32), [-1, values.shape[-1]])
    if kind == "relu":
        return tf.reduce_max(values, axis=0)
    slopes = 1.0 - tf.square(values) if kind == "tanh" else 4.0 * values * (1.0 - values)
    pinned = tf.reduce_mean(tf.cast(slopes < SATURATED_SLOPE, tf.float32), axis=0)
    return tf.stack([tf.reduce_max(slopes, axis=0), pinned])


# Gradients are read from this many of the probe's examples, spread over it; the outputs, the
# loss and the units from all of them, in a forward pass of their own. Backpropagation costs
# about twice the forward pass: on the overhead benchmark's probe of 128 a look took 35 ms with
# every example's gradient and 23 ms with 32 (docs/doctor.md, "Overhead").
GRADIENT_EXAMPLES = 32


def gradient_rows(count: int, wanted: int = GRADIENT_EXAMPLES) -> list[int] | None:
    """The rows of a probe of `count` examples whose gradient is taken: `wanted` rows spread
    evenly over it, so a probe sorted by class still gives every class; None: all of them."""
    if count <= wanted:
        return None
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def compile_look(model, watched: Watched, owners: list[tuple[str, list]], count: int):
    """One compiled look at a probe of `count` examples: outputs (flat list), the compiled
    loss, each owner's gradient norm (-1: no path to the loss; taken on `gradient_rows`) and
    each watched layer's unit readings."""
    chosen = gradient_rows(count)

    def forward(inputs, targets):
        outputs = model(inputs, training=False)
        return outputs, model.compute_loss(x=inputs, y=targets, y_pred=outputs, training=False)

    @tf.function
    def look(inputs, targets):
        caught = {}
        for layer in watched.layers:
            original = layer.call

            def catching(*args, _layer=layer, _original=original, **kwargs):
                result = _original(*args, **kwargs)
                caught[_layer.name] = result
                return result
            object.__setattr__(layer, "call", catching)  # For this trace only.
        try:
            # With chosen rows, the whole probe's pass is not taped: they get a pass of their own.
            with tf.GradientTape() if chosen is None else contextlib.nullcontext() as tape:
                outputs, loss = forward(inputs, targets)
        finally:
            for layer in watched.layers:
                object.__delattr__(layer, "call")
        weights = [w for _, layer_weights in owners for w in layer_weights]
        if chosen is None:
            gradients = tape.gradient(loss, weights)
        else:
            with tf.GradientTape() as tape:
                _, chosen_loss = forward(*tf.nest.map_structure(
                    lambda leaf: tf.gather(leaf, chosen), (inputs, targets)))
            gradients = tape.gradient(chosen_loss, weights)
        norms, index = [], 0
        for _, layer_weights in owners:
            squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
                       for g in gradients[index:index + len(layer_weights)] if g is not None]
            norms.append(tf.sqrt(tf.add_n(squares)) if squares else tf.constant(-1.0))
            index += len(layer_weights)
        readings = {layer.name: unit_readings(watched.kinds[layer.name], caught[layer.name])
                    for layer in watched.layers if layer.name in caught}
        flat = [tf.cast(output, tf.float32) for output in tf.nest.flatten(outputs)]
        return flat, tf.cast(loss, tf.float32), norms, readings

    return look
