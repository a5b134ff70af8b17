"""From signals to the alert a coach reads.

Severity is deliberately coarse: ``urgent`` when a relationship answer sits at the very bottom of its scale
or several practices are low at once, ``watch`` otherwise. The coach's message carries the reasons and the
client's own words from the same check-in, since those words are usually what the coach acts on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.signals import AnswerView, Signal
from bot.texts import Texts

Severity = Literal["watch", "urgent"]

#: Free-text answers worth quoting to the coach, in the order they are quoted.
QUOTED_QUESTIONS = ("repair", "note")


@dataclass(frozen=True, slots=True)
class AlertDraft:
    severity: Severity
    signals: tuple[Signal, ...]
    message: str


def severity_of(signals: Sequence[Signal], scale_min: int = 1) -> Severity | None:
    if not signals:
        return None
    if len({s.practice for s in signals}) >= 2 or any(s.value <= scale_min for s in signals):
        return "urgent"
    return "watch"


def draft_alert(
    client_name: str, signals: Sequence[Signal], answers: Sequence[AnswerView], texts: Texts
) -> AlertDraft | None:
    severity = severity_of(signals)
    if severity is None:
        return None
    lines = [texts.render("coach_alert_title", client_name=client_name, severity=severity)]
    lines += [texts.render("coach_alert_reason", reason=s.reason) for s in signals]
    by_question = {a.question_id: a.text for a in answers if a.text}
    lines += [
        texts.render("coach_alert_words", client_name=client_name, text=by_question[q])
        for q in QUOTED_QUESTIONS
        if q in by_question
    ]
    return AlertDraft(severity, tuple(signals), "\n".join(lines))
