"""Relationship signals: what the detectors in ``bot.signals.detectors`` report.

Each signal names the practice it concerns and carries one sentence a coach understands, with the numbers,
because an alert a coach cannot explain to themselves is an alert they learn to ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.conversation.questions import Practice

SignalKind = Literal["low_score", "drop", "downtrend", "withdrawal", "words", "wellbeing", "stalled_progress"]

#: Kinds that speak about the coaching relationship and can raise an alert. The others (``wellbeing``,
#: ``stalled_progress``) are about the client's life and goals: digest material and context in an alert.
RELATIONSHIP_KINDS: Final[frozenset[str]] = frozenset({"low_score", "drop", "downtrend", "withdrawal", "words"})


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    practice: Practice
    reason: str
    question_id: str | None = None
    #: How bad it is, lower is worse, comparable only within one kind: the answer (``low_score``), the alliance
    #: index (``drop``, ``downtrend``), minus the withdrawn check-ins in a row (``withdrawal``). The alert policy
    #: re-alerts within the cooldown only when this falls.
    value: float | None = None
    #: The answer sits at the very bottom of its scale: the strongest thing a client can say with a button.
    bottom: bool = False
    #: The client's own words that raised the signal, quoted to the coach.
    words: str | None = None
    #: What those words are about, when the detector names it (``words``: "priority", "unheard"...); the alert
    #: picks its suggestion by it (``suggest_theme_<theme>`` in the prompts).
    theme: str | None = None

    @property
    def is_relationship(self) -> bool:
        return self.kind in RELATIONSHIP_KINDS

    def to_json(self) -> dict[str, object]:
        """What a coach and ``checkin replay`` see."""
        return {"kind": self.kind, "practice": self.practice, "reason": self.reason}

    def to_record(self) -> dict[str, object]:
        """What the alerts table keeps: the JSON plus the measure the cooldown compares against."""
        record = self.to_json()
        if self.value is not None:
            record["value"] = self.value
        return record
