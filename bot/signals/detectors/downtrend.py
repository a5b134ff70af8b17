"""``downtrend``: a sustained fall of the alliance index across recent check-ins.

A least-squares slope over the last ``window`` indexed check-ins catches a client sliding a little each time,
which neither the floor nor the reliable-change test sees because no single step is large. The slope must be
both steep enough to matter (``min_slope`` points per check-in) and clearly below zero for this client's noise
(``t`` standard errors), so a zig-zag is not a trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import inf, sqrt
from statistics import fmean

from bot.config.alerts import DowntrendSettings
from bot.conversation.questions import Question
from bot.conversation.texts import Texts
from bot.signals.detectors.common import indexed, item_scores, number
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal


def detect_downtrend(
    history: Sequence[HistoryEntry], questions: Sequence[Question], texts: Texts, settings: DowntrendSettings
) -> list[Signal]:
    points = indexed(history, questions)
    if len(points) < settings.window or points[-1][0] is not history[-1]:
        return []
    window = points[-settings.window :]
    values = [index for _, index in window]
    slope, t = _slope(values)
    if slope > -settings.min_slope or t > -settings.t:
        return []
    question = _fell_most(window[0][0], window[-1][0], questions)
    assert question.practice is not None
    reason = texts.render(
        "reason_downtrend",
        count=len(values),
        first=number(values[0]),
        last=number(values[-1]),
        per_checkin=number(-slope) if -slope >= 0.05 else f"{-slope:.2f}",
        question=question.id.capitalize(),
    )
    return [Signal("downtrend", question.practice, reason, question.id, values[-1])]


def _slope(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope per check-in and its t statistic (-inf for a perfectly straight fall)."""
    n = len(values)
    xs = range(n)
    x_mean, y_mean = fmean(xs), fmean(values)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    slope = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, values, strict=True)) / sxx
    residual = sum((y - (y_mean + slope * (x - x_mean))) ** 2 for x, y in zip(xs, values, strict=True))
    error = sqrt(residual / (n - 2)) / sqrt(sxx) if n > 2 else 0.0
    if error == 0:
        return slope, -inf if slope < 0 else (inf if slope > 0 else 0.0)
    return slope, slope / error


def _fell_most(first: HistoryEntry, last: HistoryEntry, questions: Sequence[Question]) -> Question:
    before, after = item_scores(first, questions), item_scores(last, questions)
    shared = [q for q in questions if q.id in before and q.id in after] or [q for q in questions if q.id in after]
    return max(shared, key=lambda q: before.get(q.id, after[q.id]) - after[q.id])
