"""What every detector reads the same way: the relationship questions, the common scale, the alliance index.

Answers are put on one 1–5 scale before they are compared or averaged, so a question set that asks trust on
1–7 and support on 1–5 (or changed scales midway) still gives an index whose numbers a coach recognises.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import Question, QuestionSet, Scale
from bot.signals.history import HistoryEntry

COMMON_MIN = 1.0
COMMON_MAX = 5.0


def relationship_questions(question_set: QuestionSet) -> tuple[Question, ...]:
    return tuple(q for q in question_set.questions if q.practice is not None and q.scale is not None)


def to_common(value: float, scale: Scale) -> float | None:
    """``value`` on the 1–5 scale, or None when it lies outside its own scale (a corrupt or foreign answer)."""
    if not scale.min <= value <= scale.max:
        return None
    return COMMON_MIN + (COMMON_MAX - COMMON_MIN) * (value - scale.min) / (scale.max - scale.min)


def from_common(value: float, scale: Scale) -> float:
    return scale.min + (scale.max - scale.min) * (value - COMMON_MIN) / (COMMON_MAX - COMMON_MIN)


def item_scores(entry: HistoryEntry, questions: Sequence[Question]) -> dict[str, float]:
    """The relationship answers of one check-in on the common scale; skipped or out-of-scale ones are absent."""
    scores: dict[str, float] = {}
    for question in questions:
        raw = entry.scores.get(question.id)
        if raw is None or question.scale is None:
            continue
        common = to_common(raw, question.scale)
        if common is not None:
            scores[question.id] = common
    return scores


def alliance_index(entry: HistoryEntry, questions: Sequence[Question]) -> float | None:
    """Mean of the relationship answers given; None when the check-in has none (expired, all skipped)."""
    if entry.status != CheckInStatus.COMPLETED:
        return None
    scores = item_scores(entry, questions)
    return fmean(scores.values()) if scores else None


def indexed(history: Sequence[HistoryEntry], questions: Sequence[Question]) -> list[tuple[HistoryEntry, float]]:
    """The completed check-ins that carry an alliance index, in order, with it."""
    result: list[tuple[HistoryEntry, float]] = []
    for entry in history:
        index = alliance_index(entry, questions)
        if index is not None:
            result.append((entry, index))
    return result


def number(value: float) -> str:
    """One decimal at most, as a coach would say it: 4.6, 2, 0.25 stays 0.3."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def day(entry: HistoryEntry) -> str:
    return f"{entry.at.day} {entry.at:%b}"
