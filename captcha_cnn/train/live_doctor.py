"""The doctor during a training run: the verdicts given at each evaluation and at each
`doctor.every` steps between them."""

from __future__ import annotations

from dataclasses import asdict

from tqdm import tqdm

from captcha_cnn.doctor.runs import levels_of, observation_of
from captcha_cnn.doctor.verdict import Diagnosis, Verdict
from captcha_cnn.train.session import Session

# Written when the doctor stops a run: the verdict that stopped it.
DOCTOR_STOP = "doctor_stop.json"


class LiveDoctor:
    """The doctor during training: a verdict with each evaluation (printed) and at each
    `doctor.every` steps between them (printed when its kind changes); the stop reason "doctor"
    once a verdict in `doctor.stop_on` is given."""

    def __init__(self, session: Session, kept_rows: list[dict]):
        self.session = session
        self.every, self.stop_on = session.config["doctor"]["every"], session.config["doctor"]["stop_on"]
        self.diagnosis = Diagnosis(levels_of(session.config))
        for row in kept_rows:  # A resumed run: the verdicts so far, so "since" stays right.
            self.diagnosis.add(observation_of(row))

    def judge_row(self, row: dict, bar: tqdm) -> str | None:
        return self._record(self.diagnosis.add(observation_of(row)), bar, always=True)

    def look(self, step: int, signals: dict, bar: tqdm) -> str | None:
        row = self.session.evaluator.probe_row(step, signals)
        return self._record(self.diagnosis.add(observation_of(row)), bar, always=False)

    def _record(self, verdict: Verdict, bar: tqdm, always: bool) -> str | None:
        history = self.diagnosis.history
        changed = len(history) < 2 or history[-2].kind != verdict.kind
        if changed or always:
            bar.write(f"doctor, step {verdict.at:,}: {verdict.kind} since step {verdict.step:,}: "
                      f"{verdict.evidence}" + (f"; {verdict.advice}" if changed else ""))
        if verdict.kind in self.stop_on:
            self.session.run.write_json(self.session.run.path / DOCTOR_STOP, asdict(verdict))
            return "doctor"
        return None
