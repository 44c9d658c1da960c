"""Running a panel case: once without the doctor (does the failure really happen?), once with
it (what does it say, and how soon is it right?)."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from captcha_cnn.doctor import Doctor
from captcha_cnn.perf.doctor_panel.case import QUIET, Calibration, Case, Setup

LOOKS_PER_RUN = 20  # The doctor looks about this many times per fit, at least every 50 batches.


def built(case: Case, seed: int) -> Setup:
    keras.utils.set_random_seed(seed)
    return case.build()


def steps_per_epoch(setup: Setup) -> int:
    """Steps per pass over the data: the "first epoch" the first right verdict should come in."""
    if setup.steps_per_pass is not None:
        return setup.steps_per_pass
    return math.ceil(len(setup.y) / setup.fit["batch_size"])


def _total_steps(setup: Setup) -> int:
    return math.ceil(len(setup.y) / setup.fit["batch_size"]) * setup.fit["epochs"]


def every(setup: Setup) -> int:
    """About LOOKS_PER_RUN looks per fit, at least one every 50 batches and one per pass over
    the data (so a failure that shows in the first pass can be seen in it)."""
    return max(1, min(50, _total_steps(setup) // LOOKS_PER_RUN, steps_per_epoch(setup)))


def _loss(values) -> float:
    return float(values[0] if isinstance(values, (list, tuple)) else values)


def calibrate(case: Case, seed: int = 0) -> dict:
    """A plain fit, no doctor: the numbers the case's symptom is checked on."""
    setup = built(case, seed)
    evaluate = lambda: setup.model.evaluate(setup.x, setup.y, verbose=0, batch_size=256,  # noqa: E731
                                            return_dict=True)
    before = evaluate()
    start = time.perf_counter()
    history = setup.model.fit(setup.x, setup.y, verbose=0, **setup.fit).history
    seconds = time.perf_counter() - start
    after = evaluate()
    outputs = setup.model.predict(setup.x, verbose=0, batch_size=256)
    outputs = np.concatenate([np.ravel(o) for o in outputs]) if isinstance(outputs, list) else outputs
    accuracy = next((value for key, value in after.items() if "accuracy" in key), None)
    calibration = Calibration(
        loss_before=_loss(before["loss"]), loss_after=_loss(after["loss"]),
        accuracy=None if accuracy is None else float(accuracy),
        non_finite=not all(math.isfinite(v) for v in history["loss"] + [after["loss"]]),
        spread=float(np.nanstd(np.reshape(outputs, (len(setup.y), -1)), axis=0).max()),
        seconds=seconds)
    return {**calibration.__dict__, "shown": bool(case.calibrated(calibration))}


class _Stamps(keras.callbacks.Callback):
    """Stamps each verdict the doctor gives with the seconds since `fit` was called."""

    def __init__(self, doctor: Doctor, start: float):
        super().__init__()
        self.doctor, self.start, self.seconds = doctor, start, []

    def _stamp(self):
        while len(self.seconds) < len(self.doctor.history):
            self.seconds.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self._stamp()

    def on_train_batch_end(self, batch, logs=None):
        self._stamp()

    def on_train_end(self, logs=None):
        self._stamp()


def diagnose(case: Case, seed: int = 0) -> dict:
    """A fit with the doctor: its verdicts in order, the first right one, and any alarm."""
    setup = built(case, seed)
    try:
        doctor = Doctor(probe=setup.probe, every=every(setup), verbose=False)
    except ValueError as refused:  # A probe the doctor refuses is a result too.
        return {"final": None, "right": False, "first_right": None, "path": [], "alarms": [],
                "notes": [], "error": f"refused: {refused}", "every": every(setup),
                "steps_per_epoch": steps_per_epoch(setup), "looks": 0}
    stamps = _Stamps(doctor, time.perf_counter())
    error = None
    try:
        setup.model.fit(setup.x, setup.y, verbose=0, callbacks=[doctor, stamps], **setup.fit)
    except Exception as exc:  # A crash is a result the panel reports, not a reason to stop.
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    stamps._stamp()
    return _reading(case, setup, doctor, stamps.seconds, error)


def _reading(case: Case, setup: Setup, doctor: Doctor, seconds: list, error) -> dict:
    path, first = [], None
    for verdict, at_seconds in zip(doctor.history, seconds, strict=True):
        if not path or path[-1]["kind"] != verdict.kind:
            path.append({"kind": verdict.kind, "step": verdict.at, "seconds": round(at_seconds, 2)})
        if first is None and case.right(verdict.kind):
            first = {"step": verdict.at, "seconds": round(at_seconds, 2),
                     "evidence": verdict.evidence, "advice": verdict.advice}
    final = doctor.verdict.kind if doctor.verdict else None
    alarms = sorted({v.kind for v in doctor.history
                     if v.kind not in QUIET and v.kind not in case.allowed})
    # A faulty program may raise other alarms on the way to its verdict, unless its right
    # reading is itself quiet (a slow start).
    alarmed = case.kind == "faulty" and case.expected not in QUIET
    right = final is not None and case.right(final) and (alarmed or not alarms)
    return {"final": final, "right": bool(right and error is None), "first_right": first,
            "path": path, "alarms": alarms, "notes": list(doctor.notes), "error": error,
            "every": every(setup), "steps_per_epoch": steps_per_epoch(setup),
            "looks": len(doctor.history)}
