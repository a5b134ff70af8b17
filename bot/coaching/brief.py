"""The pre-session brief: what a coach reads before a session with a client.

The check-ins since the last session (scores and the client's notes), the trend chart, the alerts still open
and two or three talking points drawn from the five practices, the weakest or most fallen first. It arrives
unasked before each session (config ``sessions:`` and sessions the coach recorded), at the coach's
``brief_at`` on the day ``brief_days_before`` the session, and on demand with ``brief CLIENT``.

The outbox key names the coach, the client and the session day, so a brief goes out once per session across
sweeps, restarts and replicas, like the digest.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import fmean
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.config.alerts import Alerts
from bot.conversation import engine
from bot.conversation.questions import Practice, Question, QuestionSet
from bot.conversation.texts import Texts
from bot.delivery import outgoing
from bot.signals import drawing
from bot.signals.detectors.common import item_scores, relationship_questions
from bot.signals.drawing import TrendChart
from bot.signals.history import HistoryEntry
from bot.store import Database, Session, alerts, clients, coaches, coaching_sessions, outbox, waiting
from bot.store.history import alert_marks, client_history
from bot.store.models import Alert, Client, Coach

#: How many talking points a brief offers: enough to choose from, few enough to read before a session.
POINTS = 3
#: A practice that fell by at least this much (on the 1–5 scale) since the earlier check-ins is named as falling.
NOTABLE_CHANGE = 0.5

#: Where a coach is reached now, or ``None`` while they cannot be.
CoachAddress = Callable[[Coach], outgoing.Address | None]


class TellCoach(Protocol):
    """``CoachNotices.tell_coach``: queue for the coach, or hold while they are in quiet hours."""

    async def __call__(
        self,
        session: Session,
        about: Client | str,
        messages: Sequence[engine.Outgoing],
        checkin_id: int | None,
        key: str,
        now: datetime,
        *,
        image_png: bytes | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Brief:
    text: str
    chart: bytes | None


@dataclass(frozen=True, slots=True)
class PracticeReading:
    """A practice's mean since the last session, and how far it moved from the check-ins before."""

    practice: Practice
    #: ``None`` when the client has not answered it yet.
    level: float | None
    change: float | None


class SessionBriefs:
    def __init__(
        self,
        *,
        config: Config,
        question_sets: Mapping[str, QuestionSet],
        texts: Texts,
        alerts: Alerts,
        address_of: CoachAddress,
        tell_coach: TellCoach,
    ) -> None:
        self._config = config
        self._question_sets = question_sets
        self._texts = texts
        self._alerts = alerts
        self._address_of = address_of
        self._tell_coach = tell_coach

    async def compose(self, session: Session, client: Client, coach_zone: ZoneInfo, now: datetime) -> Brief:
        """The brief for the client's next session (today or later), or for now when none is planned."""
        today = now.astimezone(coach_zone).date()
        recorded = await coaching_sessions.recorded_sessions(session, [client.id])
        days = self._session_days(client.id, recorded.get(client.id, []))
        upcoming = next((day for day in days if day >= today), None)
        return await self._compose(session, client, days, upcoming or today, upcoming, now)

    async def queue_due_briefs(self, database: Database, now: datetime) -> int:
        """Queue every brief whose time has come and whose session has not passed; return how many were queued."""
        queued = 0
        for coach in self._config.coaches:
            async with database.session() as session:
                # Only a client with a session can have a brief due: at 10,000 clients, loading every client
                # of the coach each minute held the event loop for half a second.
                recorded = await coaching_sessions.recorded_sessions(session)
                configured = [c.id for c in self._config.clients if c.coach == coach.id and c.sessions]
                with_sessions = {*configured, *recorded}
                own = await clients.active_clients(session, coach_id=coach.id, client_ids=with_sessions)
            for client in own:
                days = self._session_days(client.id, recorded.get(client.id, []))
                for day in days:
                    if not brief_due(day, coach.brief_at, coach.brief_days_before, coach.zone, now):
                        continue
                    key = f"brief:{coach.id}:{client.id}:{day.isoformat()}"
                    async with database.transaction() as session:
                        if await outbox.outbox_row(session, f"{key}:0") is not None or await waiting.is_waiting(
                            session, f"{key}:0"
                        ):
                            continue
                        row = await coaches.coach_by_id(session, coach.id)
                        if row is None or self._address_of(row) is None:
                            continue  # a brief is about a session close at hand: one who joins later gets the next
                        brief = await self._compose(session, client, days, day, day, now)
                        message = engine.Outgoing(brief.text)
                        # Through the coach's notices, so quiet hours hold it like any message that is not urgent.
                        await self._tell_coach(session, client, (message,), None, key, now, image_png=brief.chart)
                        queued += 1
        return queued

    def _session_days(self, client_id: str, recorded: Sequence[date]) -> list[date]:
        """The client's coaching sessions, from config and recorded by the coach, oldest first."""
        configured = self._config.clients_by_id.get(client_id)
        return sorted({*(configured.sessions if configured is not None else ()), *recorded})

    async def _compose(
        self,
        session: Session,
        client: Client,
        days: Sequence[date],
        reference: date,
        upcoming: date | None,
        now: datetime,
    ) -> Brief:
        texts = self._texts
        zone = ZoneInfo(client.timezone)
        question_set = self._question_sets[client.question_set]
        history = await client_history(session, client.id)
        previous = max((day for day in days if day < reference), default=None)
        since = [e for e in history if previous is None or e.at.astimezone(zone).date() > previous]
        before = [e for e in history if e not in since]
        if upcoming is not None:
            lines = [texts.render("brief_title", client_name=client.name, date=_day(upcoming))]
        else:
            lines = [texts.render("brief_title_unplanned", client_name=client.name)]
        if previous is not None:
            lines.append(texts.render("brief_since_session", date=_day(previous)))
        else:
            lines.append(texts.render("brief_since_start"))
        lines += [self._checkin_line(entry, question_set, zone) for entry in since] or [
            texts.render("brief_no_checkins")
        ]
        open_alerts = [a for a in await alerts.alerts_for_client(session, client.id) if a.acknowledged_at is None]
        lines.append(texts.render("brief_alerts_title") if open_alerts else texts.render("brief_no_alerts"))
        lines += [self._alert_line(alert, zone) for alert in open_alerts]
        lines.append(texts.render("brief_points_title"))
        questions = relationship_questions(question_set)
        for reading in talking_points(since or history[-1:], before, questions):
            point = texts.render(f"brief_point_{reading.practice}")
            lines.append(texts.render("brief_point_line", point=point, why=self._why(reading)))
        chart = None
        if history:
            marks = await alert_marks(session, client.id, since=history[0].at)
            chart = await drawing.draw(
                TrendChart(client.name, history, question_set, self._alerts.low_score_floor, texts, marks)
            )
        return Brief("\n".join(lines), chart)

    def _why(self, reading: PracticeReading) -> str:
        if reading.level is None:
            return self._texts.render("brief_why_none")
        if reading.change is not None and reading.change <= -NOTABLE_CHANGE:
            return self._texts.render(
                "brief_why_fell", before=f"{reading.level - reading.change:.1f}", now=f"{reading.level:.1f}"
            )
        return self._texts.render("brief_why_level", now=f"{reading.level:.1f}")

    def _checkin_line(self, entry: HistoryEntry, question_set: QuestionSet, zone: ZoneInfo) -> str:
        texts = self._texts
        day = _day(entry.at.astimezone(zone).date())
        scores = " · ".join(
            f"{question.id} {entry.scores[question.id]:.3g}"
            for question in question_set.questions
            if question.id in entry.scores
        )
        status = texts.render(f"checkin_status_{entry.status}")
        line = texts.render("brief_checkin", date=day, scores=scores or status)
        quotes = [
            texts.render("brief_quote", question=question.id, text=quoted(entry.texts[question.id]))
            for question in question_set.questions
            if entry.texts.get(question.id)
        ]
        return "\n".join([line, *quotes])

    def _alert_line(self, alert: Alert, zone: ZoneInfo) -> str:
        reasons = "; ".join(str(signal.get("reason", "")) for signal in alert.signals if signal.get("reason"))
        return self._texts.render(
            "brief_alert",
            date=_day(alert.created_at.astimezone(zone).date()),
            severity=alert.severity,
            reasons=quoted(reasons, marks=False),
        )


def brief_due(day: date, at: time, days_before: int, zone: ZoneInfo, now: datetime) -> bool:
    """Whether the brief for a session on ``day`` is due: from ``at`` on the day ``days_before`` it, in the
    coach's time zone, until the session day ends (a bot that was down the evening before still sends it)."""
    start = datetime.combine(day - timedelta(days=days_before), at, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)
    return start <= now < end


def talking_points(
    since: Sequence[HistoryEntry], before: Sequence[HistoryEntry], questions: Sequence[Question]
) -> list[PracticeReading]:
    """The practices to talk about: lowest level first, a fall since the earlier check-ins counting against it.

    A practice without answers since the last session is left out; with no answers at all the first
    practices of the question set stand in, so a brief always has something to start from.
    """
    readings: list[PracticeReading] = []
    for question in questions:
        if question.practice is None:
            continue
        recent = [s[question.id] for e in since if question.id in (s := item_scores(e, [question]))]
        earlier = [s[question.id] for e in before if question.id in (s := item_scores(e, [question]))]
        if not recent:
            continue
        level = fmean(recent)
        readings.append(PracticeReading(question.practice, level, level - fmean(earlier) if earlier else None))
    if not readings:
        practices = [q.practice for q in questions if q.practice is not None]
        return [PracticeReading(practice, None, None) for practice in practices[:2]]
    readings.sort(key=lambda r: (r.level or 0.0) + min(0.0, r.change or 0.0))
    return readings[:POINTS]


def quoted(text: str, *, marks: bool = True) -> str:
    """A client's words on one line, without control or direction characters, so a note cannot forge lines."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"} or ch in "\n\t")
    one_line = " / ".join(part.strip() for part in kept.splitlines() if part.strip())
    return f"“{one_line}”" if marks else one_line


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"
