"""The stall doctor: tells a dead network, a hidden bug (probabilities fed to a loss that
expects logits, by a softmax or a sigmoid), a divergence, exploding or vanishing gradients,
saturated units, targets the outputs cannot reach and a slow start apart, from signals the
curves do not show, with advice that names the cause (docs/doctor.md).

    from captcha_cnn.doctor import Doctor
    doctor = Doctor(probe=(x_probe, y_probe), every=50)   # every 50 training batches
    model.fit(x, y, callbacks=[doctor])
    doctor.verdict.kind, doctor.verdict.step, doctor.history

`python -m captcha_cnn.doctor RUN_DIR...` judges this project's runs from their metrics.jsonl.
The verdict logic (`verdict.py`) is pure Python; `Doctor` (the Keras callback) loads Keras only
when it is first asked for, so the command-line reader starts fast.
"""

from captcha_cnn.doctor.verdict import KINDS, Diagnosis, Levels, Observation, Verdict

__all__ = ["KINDS", "Diagnosis", "Doctor", "Levels", "Observation", "Verdict"]


def __getattr__(name: str):
    if name == "Doctor":
        from captcha_cnn.doctor.callback import Doctor

        return Doctor
    raise AttributeError(f"module 'captcha_cnn.doctor' has no attribute {name!r}")
