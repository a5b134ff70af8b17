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

What the coach reads depends on why the policy spoke. A new kind or a higher severity is a full alert: what
changed (against the previous answer and the client's usual one, with dates), why it matters, the client's
words (each answer quoted once, on a line the bot starts, through ``bot.signals.quoting``; last, so a platform
that shortens a long note never cuts what to do), a suggestion that fits what they wrote
(``bot.signals.themes``) or else the weakest practice, and for an urgent alert a nudge to reach out before the
next session. A slide that only got worse within the cooldown (the same kinds, the same
severity, a lower measure) is a short "still declining" update: the coach has the full alert already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from math import inf
from statistics import median
from typing import Final, Literal

from bot.config.alerts import Alerts
from bot.contract.statuses import CheckInStatus, Severity
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors import RiskPhrases, detect
from bot.signals.detectors.common import from_common, item_scores, number, relationship_questions
from bot.signals.history import HistoryEntry
from bot.signals.quoting import quote
from bot.signals.signal import Signal
from bot.signals.themes import Themes, load_themes

_RANK: Final[Mapping[str, int]] = {Severity.WATCH: 1, Severity.URGENT: 2}
#: Free-text answers worth quoting to the coach, in the order they are quoted.
QUOTED_QUESTIONS = ("repair", "note")
#: How much lower (on the 1–5 scale) a measure must be to count as worse: half a point, so an index wobbling
#: from 2.4 to 2.3 is not news but an answer going from 2 to 1 is.
WORSE_BY: Final = 0.5
#: Which signal picks the practice when answers do not (a tie, or no answer involved): the one a coach can act
#: on most directly comes first.
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


#: Why the policy spoke: something new (``full``), or only further down the same slide (``update``).
News = Literal["full", "update"]


@dataclass(frozen=True, slots=True)
class Alert:
    severity: Severity
    #: Relationship signals first, then context.
    signals: tuple[Signal, ...]
    message: str
    #: A short "still declining" update to an alert the coach already has, rather than a full alert.
    update: bool = False
    #: The questions whose answers the message quotes, so a summary sent with it need not quote them again.
    quoted: tuple[str, ...] = ()

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
    news = None if severity is None else _news(relationship, severity, previous, settings, now)
    if severity is None or news is None:
        return AlertOutcome(signals, None, previous)
    context = [s for s in signals if not s.is_relationship]
    writing = _Writing(client_name, history, question_set, settings, texts)
    quoted: tuple[str, ...] = ()
    if news == "update":
        since = min(previous.by_kind[s.kind].at for s in relationship if s.kind in previous.by_kind)
        message = writing.update(severity, relationship, context, since)
    else:
        message, quoted = writing.full(severity, relationship, context, load_themes())
    alert = Alert(severity, tuple(relationship + context), message, update=news == "update", quoted=quoted)
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
) -> News | None:
    """``full`` when a kind is new or more severe, ``update`` when a kind only got worse, else None (cooldown)."""
    news: News | None = None
    for kind, value in _lowest_by_kind(signals).items():
        last = previous.by_kind.get(kind)
        if last is None or now - last.at >= settings.cooldown or _RANK[severity] > _RANK[last.severity]:
            return "full"
        if value is not None and last.value is not None and value <= last.value - WORSE_BY:
            news = "update"
    return news


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


#: Signals whose reasons say something the "what changed" line does not (the index, a trend, missed check-ins);
#: ``low_score`` reasons are the line itself, and the reasons of ``words`` and ``wellbeing`` quote the client,
#: whose words are quoted once, apart.
_REASONED: Final = frozenset({"drop", "downtrend", "withdrawal"})


class _Writing:
    """The coach's message about ``history[-1]``, in ``texts``' words."""

    def __init__(
        self,
        client_name: str,
        history: Sequence[HistoryEntry],
        question_set: QuestionSet,
        settings: Alerts,
        texts: Texts,
    ) -> None:
        self._name = client_name
        self._questions = {q.id: q for q in relationship_questions(question_set)}
        self._current = history[-1]
        questions = tuple(self._questions.values())
        self._earlier = [e for e in history[:-1] if e.status == CheckInStatus.COMPLETED and item_scores(e, questions)][
            -settings.drop.baseline :
        ]
        self._floor = settings.low_score_floor
        self._texts = texts

    def full(
        self, severity: Severity, signals: Sequence[Signal], context: Sequence[Signal], themes: Themes
    ) -> tuple[str, tuple[str, ...]]:
        """The message, and the questions whose answers it quotes."""
        render = self._texts.render
        lines = [render("coach_alert_title", client_name=self._name, severity=severity)]
        lines += self._changes(signals)
        practice = self._weakest(signals)
        lines.append(render("coach_alert_why", why=render(f"why_{practice}")))
        lines += [self._context(signal) for signal in context]
        quoted = self._quoted(signals, context)
        theme = themes.pick(signals, (self._current.texts[question_id] for question_id, _ in quoted))
        suggestion = render(f"suggest_theme_{theme}") if theme else render(f"suggest_{practice}")
        lines.append(render("coach_alert_suggestion", suggestion=suggestion))
        if severity == Severity.URGENT:
            lines.append(render("coach_alert_reach_out", client_name=self._name))
        # The client's words last: a platform that must shorten a long note cuts them, never what to do.
        return "\n".join(lines + [line for _, line in quoted]), tuple(question_id for question_id, _ in quoted)

    def update(self, severity: Severity, signals: Sequence[Signal], context: Sequence[Signal], since: datetime) -> str:
        """The short follow-up: still declining, by how much, since which alert."""
        title = self._texts.render("coach_alert_update", client_name=self._name, severity=severity, date=_day(since))
        return "\n".join([title, *self._changes(signals)])

    def _changes(self, signals: Sequence[Signal]) -> list[str]:
        """The answers that changed in one line, then what the index and the check-ins themselves say."""
        changed = self._changed(signals)
        reasons = [self._texts.render("coach_alert_reason", reason=s.reason) for s in signals if s.kind in _REASONED]
        return ([changed] if changed else []) + reasons

    def _changed(self, signals: Sequence[Signal]) -> str | None:
        """ "trust 2, support 2 (floor 2) on 3 Dec; before: 4, 4 on 26 Nov; usually 4, 4": the low answers
        together, then any other answer a signal names, each against the previous check-in and the usual."""
        render = self._texts.render
        low = {s.question_id for s in signals if s.kind == "low_score"}
        named = {s.question_id for s in signals if s.kind in ("drop", "downtrend")} - low
        answered = self._current.scores
        ids = [q for q in self._questions if q in low and q in answered]
        ids += [q for q in self._questions if q in named and q in answered]
        if not ids:
            return None
        floors = {q: self._floor_of(q) for q in ids if q in low}
        shared = len(set(floors.values())) == 1
        parts: list[str] = []
        for question_id in ids:
            part = render("coach_alert_answer", question=question_id, value=number(answered[question_id]))
            if question_id in floors and (not shared or question_id == next(reversed(floors))):
                part += render("coach_alert_floor", floor=floors[question_id])
            parts.append(part)
        before = usual = ""
        if self._earlier:
            previous = self._earlier[-1]
            values = [number(previous.scores[q]) if q in previous.scores else "–" for q in ids]
            before = render("coach_alert_before", values=", ".join(values), date=_day(previous.at))
            usual = render("coach_alert_usual", values=", ".join(self._usual(q) for q in ids))
        return render(
            "coach_alert_changed", answers=", ".join(parts), date=_day(self._current.at), before=before, usual=usual
        )

    def _floor_of(self, question_id: str) -> str:
        scale = self._questions[question_id].scale
        assert scale is not None  # relationship_questions() ensures it
        return number(from_common(self._floor, scale))

    def _usual(self, question_id: str) -> str:
        """The client's typical answer: the median of their recent answers, which a single bad week barely moves."""
        earlier = [e.scores[question_id] for e in self._earlier if question_id in e.scores]
        return number(median(earlier)) if earlier else "–"

    def _weakest(self, signals: Sequence[Signal]) -> str:
        """The practice of the lowest answer a signal names; among equally low answers the one that fell most
        (as ``drop`` or ``downtrend`` name it); a tie, or no answer, goes by ``_PRIORITY``."""
        scores = item_scores(self._current, tuple(self._questions.values()))
        fell_most = {s.question_id for s in signals if s.kind in ("drop", "downtrend")}

        def rank(signal: Signal) -> tuple[float, bool, bool, int]:
            score = scores.get(signal.question_id, inf) if signal.question_id else inf
            fell = signal.question_id in fell_most
            return score, not signal.bottom, not fell, _PRIORITY.get(signal.kind, len(_PRIORITY))

        return min(signals, key=rank).practice

    def _quoted(self, signals: Sequence[Signal], context: Sequence[Signal]) -> list[tuple[str, str]]:
        """(question id, line) for each answer quoted: the repair and note answers, then any other text a signal
        read; each text once, labelled with its question, flagged when the ``words`` detector read it."""
        read = [s.question_id for s in [*signals, *context] if s.words is not None and s.question_id]
        flagged = {s.question_id for s in signals if s.kind == "words"}
        lines: list[tuple[str, str]] = []
        seen: set[str] = set()
        for question_id in dict.fromkeys([*QUOTED_QUESTIONS, *read]):
            text = quote(self._current.texts.get(question_id, ""))
            if not text or text in seen:
                continue
            seen.add(text)
            key = "coach_alert_quote_flagged" if question_id in flagged else "coach_alert_quote"
            lines.append(
                (question_id, self._texts.render(key, client_name=self._name, question=question_id, text=text))
            )
        return lines

    def _context(self, signal: Signal) -> str:
        if signal.kind == "wellbeing":  # its words are quoted below; the reason would quote them again
            return self._texts.render("coach_alert_context_wellbeing", question=signal.question_id)
        return self._texts.render("coach_alert_context", reason=signal.reason)


def _day(at: datetime) -> str:
    """As the detectors write a check-in's day: "3 Dec"."""
    return f"{at.day} {at:%b}"
