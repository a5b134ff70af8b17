"""``drop``: the alliance index falls beyond the client's own usual variation (a reliable-change test).

After Jacobson and Truax (1991): a change counts when it exceeds what measurement noise alone would produce.
Here the noise is the client's own check-in-to-check-in spread of the index over a recent baseline, so a client
who always answers 4 or 5 is alerted on a smaller fall than one whose answers swing. The difference between
one new check-in and the mean of ``n`` baseline check-ins has the standard error ``sd * sqrt(1 + 1/n)``; the
change is reliable when it is ``z`` of those below the mean. ``min_sd`` guards clients whose answers never
vary (a spread of zero would make any wobble "reliable"), and ``min_change`` keeps changes too small to act on
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import sqrt
from statistics import fmean, stdev

from bot.config.alerts import DropSettings
from bot.conversation.questions import Question
from bot.conversation.texts import Texts
from bot.signals.detectors.common import indexed, item_scores, number
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal


def detect_drop(
    history: Sequence[HistoryEntry], questions: Sequence[Question], texts: Texts, settings: DropSettings
) -> list[Signal]:
    points = indexed(history, questions)
    if not points or points[-1][0] is not history[-1]:
        return []  # the latest check-in has no index: nothing new to compare
    current, now = points[-1]
    baseline = points[:-1][-settings.baseline :]
    if len(baseline) < settings.min_history:
        return []
    values = [index for _, index in baseline]
    usual = fmean(values)
    spread = max(stdev(values), settings.min_sd)
    margin = settings.z * spread * sqrt(1 + 1 / len(values))
    if usual - now < max(margin, settings.min_change):
        return []
    question, item_usual, item_now = _fell_most(current, [entry for entry, _ in baseline], questions)
    assert question.practice is not None
    reason = texts.render(
        "reason_drop",
        usual=number(usual),
        now=number(now),
        low=number(usual - margin),
        high=number(min(usual + margin, 5)),
        question=question.id.capitalize(),
        question_usual=number(item_usual),
        question_now=number(item_now),
    )
    return [Signal("drop", question.practice, reason, question.id, now)]


def _fell_most(
    current: HistoryEntry, baseline: Sequence[HistoryEntry], questions: Sequence[Question]
) -> tuple[Question, float, float]:
    """The answer that fell furthest below its own baseline mean: the practice the coach should look at first."""
    now = item_scores(current, questions)
    before = [item_scores(entry, questions) for entry in baseline]
    best: tuple[float, Question, float, float] | None = None
    for question in questions:
        if question.id not in now:
            continue
        earlier = [scores[question.id] for scores in before if question.id in scores]
        if not earlier:
            continue
        usual = fmean(earlier)
        fall = usual - now[question.id]
        if best is None or fall > best[0]:
            best = (fall, question, usual, now[question.id])
    assert best is not None  # the current check-in has an index, and the baseline has at least one index
    return best[1], best[2], best[3]
