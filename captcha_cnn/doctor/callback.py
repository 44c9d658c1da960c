"""The doctor as a Keras callback, for any functional or sequential Keras model's `model.fit`.

Every `every` training batches (and once before the first) it looks at the model on a fixed probe
batch, in inference mode, with one compiled forward and backward pass:
- the share of each ReLU layer's units that never fire on any probe input;
- the gradient norm of each layer's weights under the model's own compiled loss;
- the loss's inputs, checked from outside: if the outputs are probabilities (in [0, 1], summing
  to 1 along the class axis, or per block of `block_size` classes) and the compiled loss equals
  the cross-entropy of softmax(outputs) rather than of the outputs themselves, the loss applies a
  second softmax. Keras's own `from_logits=True` on a softmax output is quietly undone by Keras
  (it reads the logits behind the softmax): that gets a note, since raw TensorFlow or a custom
  loss would not undo it.
Between looks it watches the batch loss that `fit` logs, so a NaN stops nothing unnoticed.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import keras
import numpy as np
import tensorflow as tf

from captcha_cnn.doctor.verdict import KINDS, Diagnosis, Levels, Observation, Verdict
from captcha_cnn.model.levels import loss_levels
from captcha_cnn.model.unit_health import relu_layers

# Outputs within this of [0, 1] whose rows sum to 1 within this are probabilities.
PROBABILITY_TOLERANCE = 1e-3
# The compiled loss "equals" a candidate cross-entropy within this relative difference.
LOSS_MATCH_TOLERANCE = 1e-3


class Doctor(keras.callbacks.Callback):
    """Verdicts on a model while it trains: `verdict` (the last), `history` (all, in order).

    probe: (inputs, targets), a fixed batch to look at (64 to 256 examples is plenty); targets
        one-hot (or multi-hot by block) or integer class labels.
    every: look every this many training batches.
    block_size: the number of classes per block when a flat output holds several one-hot
        blocks (a 4-digit captcha's 40 outputs: block_size=10); default: the output's last axis
        (a [N, 4, 10] output is four blocks of ten, a [N, 10] output one block).
    stop_on: verdict kinds that stop training (e.g. ("dead", "diverging")); none by default.
    verbose: print the verdict whenever its kind changes.
    """

    def __init__(self, probe, every: int = 50, block_size: int | None = None,
                 stop_on: tuple[str, ...] = (), verbose: bool = True):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be a positive number of batches, not {every}")
        inputs, targets = probe
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        # Float32, as fit would feed them; integer labels stay integers.
        self.probe_inputs = inputs.astype(np.float32) if inputs.dtype.kind == "f" else inputs
        self.probe_targets = (targets.astype(np.int32) if targets.dtype.kind in "iu"
                              else targets.astype(np.float32))
        stop_on = (stop_on,) if isinstance(stop_on, str) else tuple(stop_on)
        unknown = [kind for kind in stop_on if kind not in KINDS]
        if unknown:
            raise ValueError(f"stop_on: unknown verdict {unknown[0]!r} (known: {', '.join(KINDS)})")
        self.every, self.block_size, self.stop_on, self.verbose = every, block_size, stop_on, verbose
        self.history: list[Verdict] = []
        self.notes: list[str] = []
        self.step = 0  # Training batches seen, counted at each epoch's end.
        self._epoch_start = self._seen = self._last_look = 0
        self._loss_read = False  # Whether the loss's inputs have been told apart yet.
        self._lock = threading.Lock()
        self._diagnosis: Diagnosis | None = None
        self._look = self._looked_at = None

    @property
    def verdict(self) -> Verdict | None:
        return self.history[-1] if self.history else None

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._look is None or self._looked_at is not self.model:  # Compiled once per model.
            self._look, self._looked_at = self._compile_look(), self.model
            # A new model starts a new diagnosis; a second fit() of the same one goes on.
            self._diagnosis, self._loss_read = Diagnosis(Levels()), False
        self._epoch_start = self.step
        if self.verdict is None or self.verdict.at != self.step:
            self._observe(self.step)

    # Keras runs batch-end callbacks in worker threads when every callback says it is safe;
    # otherwise it waits for each batch's numbers before the next batch starts. The doctor only
    # reads, so it says so: a look then runs beside training (its weights may be a step apart
    # from one layer to the next) and costs fit no wait. Steps come from the batch index, not a
    # counter, since the threads may run out of order; the lock keeps one look at a time.
    async_safe = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1, `batch` is the last of several: a look is due once the
        # count passes a multiple of `every`, not only when it lands on one.
        step = self._epoch_start + batch + 1
        loss = (logs or {}).get("loss")
        diverged = loss is not None and not math.isfinite(float(loss))
        if not diverged and step // self.every <= self._last_look // self.every:
            self._seen = max(self._seen, step)
            return
        with self._lock:
            self._seen = max(self._seen, step)
            if self.verdict is not None and step <= self.verdict.at:
                return  # A later batch's thread got here first.
            if diverged:
                if self.verdict is None or self.verdict.kind != "diverging":
                    self._record(self._diagnosis.add(Observation(step, float(loss))))
            elif step // self.every > self._last_look // self.every:
                self._observe(step)

    def on_epoch_end(self, epoch, logs=None):
        self.step = self._seen  # Keras waits for the batch threads before this hook.

    def on_train_end(self, logs=None):
        self.step = self._seen
        if self.verdict is None or self.verdict.at != self.step:
            self._observe(self.step)

    # Looking -------------------------------------------------------------------------------

    def _compile_look(self):
        """One compiled pass on the probe: outputs, compiled loss, per-layer gradient norms and
        each ReLU layer's largest output per unit."""
        model = self.model
        watched = relu_layers(model)
        try:
            if len(model.outputs) != 1:
                raise ValueError(f"the doctor reads models with one output; {model.name} has "
                                 f"{len(model.outputs)}")
            with_activations = keras.Model(model.inputs,
                                           [model.outputs[0], *[layer.output for layer in watched]])
        except AttributeError:  # A subclassed model: no graph to read layers from.
            with_activations, watched = None, []
            self.notes.append("unit health not measured: the model has no functional graph "
                              "(a subclassed model)")
        owners = [(layer.name, layer.trainable_weights) for layer in model.layers
                  if layer.trainable_weights]
        self.unit_layers = [layer.name for layer in watched]

        @tf.function
        def look(inputs, targets):
            with tf.GradientTape() as tape:
                if with_activations is not None:
                    # Keras hands back a lone tensor, not a list of one, when no unit layer
                    # is watched: unpacking that would iterate over a symbolic tensor.
                    outputs, *activations = tf.nest.flatten(
                        with_activations(inputs, training=False))
                else:
                    outputs, activations = model(inputs, training=False), []
                loss = model.compute_loss(x=inputs, y=targets, y_pred=outputs, training=False)
            weights = [w for _, layer_weights in owners for w in layer_weights]
            gradients = tape.gradient(loss, weights)
            norms, index = [], 0
            for _, layer_weights in owners:
                squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
                           for g in gradients[index:index + len(layer_weights)] if g is not None]
                # No path to the loss at all (-1) is not a gradient of exactly 0.
                norms.append(tf.sqrt(tf.add_n(squares)) if squares else tf.constant(-1.0))
                index += len(layer_weights)
            largest = [tf.reduce_max(tf.reshape(out, [-1, out.shape[-1]]), axis=0)
                       for out in activations]
            return outputs, loss, norms, largest

        self._layer_names = [name for name, _ in owners]
        return look

    def _run_look(self):
        outputs, loss, norms, largest = self._look(self.probe_inputs, self.probe_targets)
        return (np.asarray(outputs, dtype=np.float64), float(loss),
                [float(norm) for norm in norms], [np.asarray(value) for value in largest])

    def _observe(self, step: int) -> None:
        outputs, loss, norms, largest = self._run_look()
        if not self._loss_read:
            self._diagnosis.levels = self._read_loss_inputs(outputs, loss)
        observation = Observation(
            step=step, loss=loss, accuracy=self._accuracy(outputs),
            dead={name: float(np.mean(values <= 0.0))
                  for name, values in zip(self.unit_layers, largest, strict=True)},
            gradients={name: norm for name, norm in zip(self._layer_names, norms, strict=True)
                       if norm >= 0.0})
        self._last_look = step
        self._record(self._diagnosis.add(observation))

    def _record(self, verdict: Verdict) -> None:
        changed = self.verdict is None or self.verdict.kind != verdict.kind
        self.history.append(verdict)
        if changed and self.verbose:
            print(f"\ndoctor, step {verdict.at:,}: {verdict}")
        if verdict.kind in self.stop_on:
            self.model.stop_training = True

    # What the outputs and the loss say -----------------------------------------------------

    def _classes(self, outputs: np.ndarray) -> int:
        """Classes per block: `block_size`, else the output's last axis (a [N, 4, 10] output is
        four blocks of ten)."""
        return self.block_size or outputs.shape[-1]

    def _blocks(self, values: np.ndarray, classes: int) -> np.ndarray:
        """[examples, blocks, classes]."""
        return values.reshape(values.shape[0], -1, classes)

    def _targets_as_blocks(self, outputs: np.ndarray) -> np.ndarray | None:
        """The probe's targets as one-hot blocks shaped like the outputs' blocks; None where
        they are not class labels (one output unit: a regression or a sigmoid)."""
        classes, count = self._classes(outputs), outputs[0].size // self._classes(outputs)
        targets = self.probe_targets
        if classes < 2:
            return None
        if targets.dtype.kind in "iu" and targets.size == len(targets) * count:
            return np.eye(classes)[targets.reshape(len(targets), count)]  # Integer labels.
        if targets.size == outputs.size:
            return self._blocks(targets.astype(np.float64), classes)
        return None

    def _accuracy(self, outputs: np.ndarray) -> float | None:
        targets = self._targets_as_blocks(outputs)
        if targets is None:
            return None
        predicted = self._blocks(outputs, self._classes(outputs)).argmax(axis=-1)
        return float(np.mean(predicted == targets.argmax(axis=-1)))

    def _read_loss_inputs(self, outputs: np.ndarray, loss: float) -> Levels:
        """Chance levels from the class count; whether the loss is fed probabilities, from the
        outputs and the compiled loss's value on the probe. Decided (and noted) at the first
        look where the readings differ: near-uniform outputs give every reading the same value,
        so until then the question stays open."""
        targets = self._targets_as_blocks(outputs)
        if targets is None:
            self._loss_read = True
            self._note("accuracy and the probabilities check need class outputs (two or more "
                       "per block); the loss is judged against where it started")
            return Levels()
        classes = self._classes(outputs)
        blocks = self._blocks(outputs, classes)
        count, probabilities = blocks.shape[1], are_probabilities(blocks)
        candidates = cross_entropies(targets, blocks)
        closest = min(candidates, key=lambda name: abs(loss - candidates[name]))
        levels = Levels(chance_accuracy=1.0 / classes)
        if not _matches(loss, candidates[closest]):
            self._loss_read = True
            self._note("the compiled loss is not a plain cross-entropy of these outputs (a "
                       "regularizer, label smoothing or another loss): the probabilities check "
                       "is off, and the loss is judged against where it started")
            return levels
        blocks_factor = count if closest.endswith("sum") else 1
        levels = replace(levels, chance_loss=math.log(classes) * blocks_factor)
        rivals = [value for name, value in candidates.items()
                  if name.split("_")[0] != closest.split("_")[0]]
        if any(_matches(value, candidates[closest]) for value in rivals):
            return levels  # Outputs still (near) uniform: the readings cannot be told apart yet.
        self._loss_read = True
        floor_per_block = loss_levels("softmax_then_logits", "per_char", 1, classes)["floor"]
        if probabilities and closest.startswith("softmax"):
            return replace(levels, probabilities_as_logits=True,
                           floor=floor_per_block * blocks_factor)
        if probabilities and uses_keras_from_logits(self.model.loss):
            self._note(
                "the model outputs probabilities and its Keras loss says from_logits=True: "
                "Keras quietly reads the logits behind the softmax, so this trains correctly "
                "here, but tf.nn.softmax_cross_entropy_with_logits or a custom loss would apply "
                f"a second softmax (the loss would then never fall below {floor_per_block:.3f} "
                f"per block of {classes})")
        return levels

    def _note(self, note: str) -> None:
        self.notes.append(note)
        if self.verbose:
            print(f"doctor: note: {note}")


def _matches(value: float, reference: float) -> bool:
    return abs(value - reference) <= LOSS_MATCH_TOLERANCE * max(abs(reference), 1e-6)


def are_probabilities(blocks: np.ndarray) -> bool:
    """Every value in [0, 1] and every block summing to 1."""
    low, high = blocks.min(), blocks.max()
    sums = blocks.sum(axis=-1)
    return bool(low >= -PROBABILITY_TOLERANCE and high <= 1 + PROBABILITY_TOLERANCE
                and np.all(np.abs(sums - 1.0) <= PROBABILITY_TOLERANCE))


def cross_entropies(targets: np.ndarray, blocks: np.ndarray) -> dict[str, float]:
    """The values a cross-entropy loss can take on these outputs, each with its reduction over
    blocks: the outputs read as probabilities ("outputs"), as logits ("softmax_of_outputs":
    what a loss with logits computes), and, for outputs that are probabilities, as logits once
    more (a second softmax)."""
    def log_softmax(values):
        shifted = values - values.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    readings = {"softmax_of_outputs": log_softmax(blocks)}
    if blocks.min() > 0:
        readings["outputs"] = np.log(np.clip(blocks, 1e-7, 1.0))
    values = {}
    for name, log_probabilities in readings.items():
        per_block = -(targets * log_probabilities).sum(axis=-1)  # [examples, blocks]
        values[f"{name}_mean"] = float(per_block.mean())
        values[f"{name}_sum"] = float(per_block.sum(axis=-1).mean())
    return values


def uses_keras_from_logits(loss) -> bool:
    """Whether the compiled loss is a Keras loss object configured with from_logits=True."""
    get_config = getattr(loss, "get_config", None)
    try:
        return bool(get_config and get_config().get("from_logits"))
    except (TypeError, NotImplementedError):
        return False
