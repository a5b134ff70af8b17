"""From signals to the alert a coach reads, and when a coach hears about it again.

Pure policy: ``evaluate(history, ..., previous, now)`` returns the alert to send (or none) and the memory to
keep, so the runtime (memory built from the alerts table) and ``checkin replay`` (memory kept in a dict) decide
identically. Time comes in as ``now``; nothing here reads a clock.

Severity is deliberately coarse: ``urgent`` when a relationship answer sits at the very bottom of its scale, or
the signals concern two practices or come from two detectors at once; ``watch`` otherwise. Only relationship
signals (``low_score``, ``drop``, ``downtrend``, ``withdrawal``, ``words``) raise an alert; ``wellbeing`` and
``stalled_progress`` ride along as context, since they change how the coach reads the rest.

The cooldown is per client and kind. Within ``alerts.cooldown`` of the last alert that carried a kind, that
kind raises a new alert only when it got worse, which means exactly one of:
- the severity now is higher than the severity of that alert (watch -> urgent);
- its measure (``Signal.value``: the answer, or the alliance index) is at least ``WORSE_BY`` lower than it was.
A kind not alerted within the cooldown is new and always alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from bot.config.alerts import Alerts
from bot.contract.statuses import Severity
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors import RiskPhrases, detect
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal

_RANK: Final[Mapping[str, int]] = {Severity.WATCH: 1, Severity.URGENT: 2}
#: Free-text answers worth quoting to the coach, in the order they are quoted.
QUOTED_QUESTIONS = ("repair", "note")
#: How much lower (on the 1–5 scale) a measure must be to count as worse: half a point, so an index wobbling
#: from 2.4 to 2.3 is not news but an answer going from 2 to 1 is.
WORSE_BY: Final = 0.5
#: Which signal picks the suggested practice: the one a coach can act on most directly comes first.
_PRIORITY: Final[Mapping[str, int]] = {"low_score": 0, "words": 1, "drop": 2, "downtrend": 3, "withdrawal": 4}


@dataclass(frozen=True, slots=True)
class KindAlerted:
    """The last alert that carried one kind of signal."""

    at: datetime
    severity: Severity
    #: The lowest ``Signal.value`` of that kind in it, or None when the kind has no measure.
    value: float | None


@dataclass(frozen=True, slots=True)
class PastAlert:
    """A stored alert, as the runtime loads it: ``signals`` are ``Signal.to_record()`` dicts."""

    at: datetime
    severity: str
    signals: Sequence[Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class AlertMemory:
    """What one client's coach was last told, per signal kind."""

    by_kind: Mapping[str, KindAlerted] = field(default_factory=dict)

    @classmethod
    def from_alerts(cls, alerts: Iterable[PastAlert]) -> AlertMemory:
        """Rebuild the memory from stored alerts (any order); re-sends of one alert change nothing."""
        by_kind: dict[str, KindAlerted] = {}
        for alert in sorted(alerts, key=lambda a: a.at):
            severity = Severity.URGENT if alert.severity == Severity.URGENT else Severity.WATCH
            values: dict[str, float | None] = {}
            for signal in alert.signals:
                kind, value = str(signal.get("kind")), signal.get("value")
                measure = float(value) if isinstance(value, int | float) else None
                values[kind] = _lowest(values[kind], measure) if kind in values else measure
            by_kind.update({kind: KindAlerted(alert.at, severity, value) for kind, value in values.items()})
        return cls(by_kind)


@dataclass(frozen=True, slots=True)
class Alert:
    severity: Severity
    #: Relationship signals first, then context.
    signals: tuple[Signal, ...]
    message: str

    def records(self) -> list[dict[str, object]]:
        """The signals as the alerts table keeps them (with the measures ``AlertMemory.from_alerts`` reads)."""
        return [signal.to_record() for signal in self.signals]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    #: Everything the detectors found at this check-in, alert or not: the digest reads these.
    signals: tuple[Signal, ...]
    alert: Alert | None
    memory: AlertMemory


def evaluate(
    history: Sequence[HistoryEntry],
    *,
    settings: Alerts,
    question_set: QuestionSet,
    texts: Texts,
    client_name: str,
    previous: AlertMemory,
    now: datetime,
    phrases: RiskPhrases | None = None,
) -> AlertOutcome:
    """Run the detectors at ``history[-1]`` and decide whether the coach is told."""
    signals = detect(history, settings, question_set, texts, phrases)
    relationship = [s for s in signals if s.is_relationship]
    severity = severity_of(relationship)
    if severity is None or not _news(relationship, severity, previous, settings, now):
        return AlertOutcome(signals, None, previous)
    context = [s for s in signals if not s.is_relationship]
    quotes = _quotes(history[-1].texts, relationship)
    message = _message(client_name, severity, relationship, context, quotes, texts)
    alert = Alert(severity, tuple(relationship + context), message)
    return AlertOutcome(signals, alert, _remember(previous, relationship, severity, now))


def severity_of(signals: Sequence[Signal]) -> Severity | None:
    relationship = [s for s in signals if s.is_relationship]
    if not relationship:
        return None
    if (
        any(s.bottom for s in relationship)
        or len({s.practice for s in relationship}) >= 2
        or len({s.kind for s in relationship}) >= 2
    ):
        return Severity.URGENT
    return Severity.WATCH


def _news(
    signals: Sequence[Signal], severity: Severity, previous: AlertMemory, settings: Alerts, now: datetime
) -> bool:
    for kind, value in _lowest_by_kind(signals).items():
        last = previous.by_kind.get(kind)
        if last is None or now - last.at >= settings.cooldown or _RANK[severity] > _RANK[last.severity]:
            return True
        if value is not None and last.value is not None and value <= last.value - WORSE_BY:
            return True
    return False


def _remember(previous: AlertMemory, signals: Sequence[Signal], severity: Severity, now: datetime) -> AlertMemory:
    by_kind = dict(previous.by_kind)
    by_kind.update({kind: KindAlerted(now, severity, value) for kind, value in _lowest_by_kind(signals).items()})
    return AlertMemory(by_kind)


def _lowest_by_kind(signals: Sequence[Signal]) -> dict[str, float | None]:
    lowest: dict[str, float | None] = {}
    for signal in signals:
        lowest[signal.kind] = _lowest(lowest[signal.kind], signal.value) if signal.kind in lowest else signal.value
    return lowest


def _lowest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _quotes(answers: Mapping[str, str], signals: Sequence[Signal]) -> list[str]:
    """The client's own words: the repair and note answers, then any other text a ``words`` signal came from.

    Words a reason already quotes are not quoted again.
    """
    order = list(QUOTED_QUESTIONS) + [s.question_id for s in signals if s.kind == "words" and s.question_id]
    seen: list[str] = []
    for question_id in order:
        text = answers.get(question_id, "").strip()
        if text and text not in seen and not any(text in s.reason for s in signals):
            seen.append(text)
    return seen


def _message(
    client_name: str,
    severity: Severity,
    signals: Sequence[Signal],
    context: Sequence[Signal],
    quotes: Sequence[str],
    texts: Texts,
) -> str:
    lines = [texts.render("coach_alert_title", client_name=client_name, severity=severity)]
    lines += [texts.render("coach_alert_reason", reason=s.reason) for s in signals]
    lines += [texts.render("coach_alert_words", client_name=client_name, text=quote) for quote in quotes]
    lines += [texts.render("coach_alert_context", reason=s.reason) for s in context]
    if signals:
        first = min(signals, key=lambda s: (not s.bottom, _PRIORITY.get(s.kind, len(_PRIORITY))))
        suggestion = texts.render(f"suggest_{first.practice}")
        lines.append(texts.render("coach_alert_suggestion", suggestion=suggestion))
    return "\n".join(lines)
