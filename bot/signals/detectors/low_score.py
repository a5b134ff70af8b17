"""``low_score``: a relationship answer at or below the floor, whatever came before it.

The floor is written for the 1–5 scale and carried to each question's own scale, so a 1–7 question is held to
the same place on its scale rather than to the same number.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.conversation.questions import Question
from bot.conversation.texts import Texts
from bot.signals.detectors.common import COMMON_MIN, from_common, item_scores, number
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal


def detect_low_score(entry: HistoryEntry, questions: Sequence[Question], texts: Texts, *, floor: int) -> list[Signal]:
    signals: list[Signal] = []
    for question_id, common in item_scores(entry, questions).items():
        if common > floor:
            continue
        question = next(q for q in questions if q.id == question_id)
        assert question.scale is not None and question.practice is not None  # relationship_questions() ensures it
        raw = entry.scores[question_id]
        reason = texts.render(
            "reason_low_score",
            question=question.id.capitalize(),
            value=number(raw),
            floor=number(from_common(floor, question.scale)),
            min=question.scale.min,
            max=question.scale.max,
        )
        signals.append(Signal("low_score", question.practice, reason, question.id, common, common <= COMMON_MIN))
    return signals
