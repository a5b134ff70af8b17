"""Relationship signals: answers in, explainable signals out.

Pure functions over what a client answered. Each signal names the practice it concerns and carries one
sentence a coach understands, with the numbers, because an alert a coach cannot explain to themselves is an
alert they learn to ignore. This module holds the ``low_score`` detector; the trend, drop and withdrawal
detectors read the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.questions import Practice, QuestionSet
from bot.texts import Texts


@dataclass(frozen=True, slots=True)
class AnswerView:
    """One stored answer, as the detectors see it."""

    question_id: str
    value: int | None
    text: str | None


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str
    practice: Practice
    reason: str
    question_id: str
    value: int

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "practice": self.practice, "reason": self.reason}


def low_scores(answers: Sequence[AnswerView], question_set: QuestionSet, texts: Texts, *, floor: int) -> list[Signal]:
    """A relationship answer at or below ``floor`` is a signal on its own, whatever the client's history."""
    signals: list[Signal] = []
    for answer in answers:
        if answer.value is None or answer.value > floor:
            continue
        try:
            question = question_set.question(answer.question_id)
        except KeyError:
            continue  # an answer to a question that has since left the set carries no practice
        if question.practice is None or question.scale is None:
            continue
        reason = texts.render(
            "reason_low_score",
            question=question.id.capitalize(),
            value=answer.value,
            floor=floor,
            min=question.scale.min,
            max=question.scale.max,
        )
        signals.append(Signal("low_score", question.practice, reason, question.id, answer.value))
    return signals
