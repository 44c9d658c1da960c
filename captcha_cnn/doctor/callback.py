"""The doctor as a Keras callback, for any Keras model `fit` can train.

Every `every` training batches (and once before the first) it looks at the model on a fixed probe
batch, in inference mode, with one compiled forward and backward pass (model_reading.py):
- the share of each plain ReLU layer's units that never fire on any probe input, and of each
  tanh or sigmoid layer's units pinned at a bound for every probe input (nested models too);
- the gradient norm of each layer's weights under the model's own compiled loss;
- the loss's inputs, checked from outside (reading.py): whether the compiled loss is fed
  probabilities where it expects logits (a second softmax, or a sigmoid output into a sigmoid
  cross-entropy "with logits"), a softmax over one unit, outputs whose activation cannot reach
  the targets, and the chance levels of the probe's own targets.
Between looks it watches the batch loss that `fit` logs, so a NaN stops nothing unnoticed. What
it cannot measure on a model it says once in `notes`. The probe is checked when the callback is
made and at fit's start (probe.py): a probe that does not fit is refused in one sentence.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import keras
import numpy as np

from captcha_cnn.core.cli import bounded
from captcha_cnn.doctor import model_reading as mr
from captcha_cnn.doctor.probe import ProbeError, check_probe, fit_to_model, leaves
from captcha_cnn.doctor.reading import Reading
from captcha_cnn.doctor.verdict import KINDS, Diagnosis, Levels, Observation, Verdict


class Doctor(keras.callbacks.Callback):
    """Verdicts on a model while it trains: `verdict` (the last), `history` (all, in order),
    `notes` (what could not be measured, said once).

    probe: (inputs, targets), a fixed batch to look at (64 to 256 examples is plenty), as fit
        takes them (arrays, lists or dicts of arrays); targets one-hot (or multi-hot by block),
        integer class labels, 0/1 per unit, or any values for other losses.
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
        stop_on = (stop_on,) if isinstance(stop_on, str) else tuple(stop_on)
        unknown = [kind for kind in stop_on if kind not in KINDS]
        if unknown:
            raise ValueError(f"stop_on: unknown verdict {unknown[0]!r} (known: {', '.join(KINDS)})")
        self.probe_inputs, self.probe_targets = check_probe(probe)
        self.every, self.block_size, self.stop_on, self.verbose = every, block_size, stop_on, verbose
        self.history: list[Verdict] = []
        self.notes: list[str] = []
        self.observations: list[Observation] = []
        self.step = 0  # Training batches seen, counted at each epoch's end.
        self._epoch_start = self._seen = self._last_look = 0
        self._lock = threading.Lock()
        self._diagnosis: Diagnosis | None = None
        self._look = self._looked_at = self._reading = None

    @property
    def verdict(self) -> Verdict | None:
        return self.history[-1] if self.history else None

    # Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        model = self.model
        compiled = (model, getattr(model, "_compile_loss", None), model.loss)
        fresh = self._looked_at is None or self._looked_at[0] is not model
        if fresh:
            if self._looked_at is not None:  # Another model: a fresh diagnosis from step 0.
                self.history, self.notes, self.observations = [], [], []
                self.step = self._epoch_start = self._seen = self._last_look = 0
            self._start(model)
        elif any(now is not before for now, before in zip(compiled, self._looked_at,
                                                          strict=True)):
            self._note("the model was compiled again: the new loss is judged afresh")
            self._start(model)
            fresh = True
        self._looked_at = compiled
        self._epoch_start = self.step
        if fresh or self.verdict.at != self.step:
            self._observe(self.step)
        self._first = None

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

    def _start(self, model) -> None:
        """Compile the look for this model and its loss; refuse a probe that does not fit."""
        self._inputs = fit_to_model(self.probe_inputs, model)
        watched = mr.watched_units(model)
        owners = mr.weight_owners(model)
        self._kinds, self._outputs = watched.kinds, watched.outputs
        self._relu_biases = {layer.name: layer.bias for layer in watched.layers
                             if watched.kinds[layer.name] == "relu"
                             and layer.name not in watched.outputs
                             and getattr(layer, "bias", None) is not None}
        self._layer_names = [name for name, _ in owners]
        self._look = mr.compile_look(model, watched, owners, len(leaves(self._inputs)[0]))
        outputs = mr.output_layers(model)
        activations = [mr.activation_of(layer) if layer is not None else None
                       for layer in outputs] or [None]
        dtype = str(getattr(getattr(outputs[0] if outputs else None, "dtype_policy", None),
                            "compute_dtype", None) or keras.config.floatx())
        self._reading = Reading(self.probe_targets, self.block_size, model.loss, activations, dtype)
        floats = [leaf for leaf in leaves(self._inputs) if leaf.dtype.kind == "f" and leaf.size]
        self._input_scale = max((float(np.max(np.abs(leaf))) for leaf in floats), default=0.0)
        self._diagnosis = Diagnosis(Levels(input_scale=self._input_scale))
        self._loss_read = False
        try:
            first = self._run_look()
        except Exception as error:  # Whatever the model says, in one sentence: its last line
            # (TensorFlow's traced errors open with "in user code:" and end with the cause).
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise ProbeError(f"probe: the model cannot be run on it: "
                             f"{bounded(lines[-1], 300) if lines else type(error).__name__}") from None
        self._first = first
        if not set(watched.kinds) - watched.outputs:
            self._note("unit health not measured: no hidden layer with a plain ReLU, tanh or "
                       "sigmoid activation (others cannot die or saturate)")
        recurrent = [layer.name for layer in mr.all_layers(model) if hasattr(layer, "cell")]
        if recurrent:
            self._note(f"unit health not measured inside recurrent layers ({', '.join(recurrent)})")

    def _run_look(self):
        outputs, loss, norms, readings = self._look(self._inputs, self.probe_targets)
        return ([np.asarray(output, dtype=np.float64) for output in outputs], float(loss),
                [float(norm) for norm in norms],
                {name: np.asarray(value) for name, value in readings.items()})

    def _observe(self, step: int) -> None:
        first, self._first = getattr(self, "_first", None), None
        outputs, loss, norms, readings = first or self._run_look()
        if not self._loss_read:
            levels = self._reading.read(outputs, loss)
            if levels is not None:
                self._loss_read = True
                self._diagnosis.levels = replace(levels, input_scale=self._input_scale)
            for note in self._reading.notes:
                self._note(note)
            self._reading.notes.clear()
        observation = Observation(
            step=step, loss=loss, accuracy=self._reading.accuracy(outputs),
            output_spread=self._reading.spread(outputs),
            dead={name: float(np.mean(values <= 0.0)) for name, values in readings.items()
                  if self._kinds[name] == "relu" and name not in self._outputs},
            dead_outputs={name: float(np.mean(values <= 0.0))
                          for name, values in readings.items() if name in self._outputs},
            saturated={name: float(np.mean(values[0] < mr.SATURATED_SLOPE))
                       for name, values in readings.items() if self._kinds[name] != "relu"},
            pinned={name: float(np.mean(values[1])) for name, values in readings.items()
                    if self._kinds[name] != "relu"},
            gradients={name: norm for name, norm in zip(self._layer_names, norms, strict=True)
                       if norm >= 0.0},
            biases={name: float(np.mean(keras.ops.convert_to_numpy(bias)))
                    for name, bias in self._relu_biases.items()})
        self._last_look = step
        self.observations.append(observation)
        self._record(self._diagnosis.add(observation))

    def _record(self, verdict: Verdict) -> None:
        changed = self.verdict is None or self.verdict.kind != verdict.kind
        self.history.append(verdict)
        if changed and self.verbose:
            print(f"\ndoctor, step {verdict.at:,}: {verdict}")
        if verdict.kind in self.stop_on:
            self.model.stop_training = True

    def _note(self, note: str) -> None:
        if note in self.notes:
            return
        self.notes.append(note)
        if self.verbose:
            print(f"doctor: note: {note}")
