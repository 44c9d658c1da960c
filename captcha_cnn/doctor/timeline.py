"""A run's verdicts as a timeline: spans of one kind, and one line that says them."""

from __future__ import annotations

from captcha_cnn.doctor.verdict import Verdict


def timeline(verdicts: list[Verdict]) -> list[tuple[str, int, int]]:
    """The verdicts as spans: (kind, first step, last step), one per run of the same kind."""
    spans: list[tuple[str, int, int]] = []
    for verdict in verdicts:
        if spans and spans[-1][0] == verdict.kind:
            spans[-1] = (verdict.kind, spans[-1][1], verdict.at)
        else:
            spans.append((verdict.kind, verdict.at, verdict.at))
    return spans


def describe_timeline(verdicts: list[Verdict]) -> str:
    """E.g. 'plateau 100-1,000; learning from 1,100' (the last span is open)."""
    spans = timeline(verdicts)
    words = [f"{kind} {first:,}-{last:,}" if first != last else f"{kind} at {first:,}"
             for kind, first, last in spans[:-1]]
    if spans:
        words.append(f"{spans[-1][0]} from {spans[-1][1]:,}")
    return "; ".join(words)
