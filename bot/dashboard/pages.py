"""What each dashboard page shows, read through the coach desk and the functions the chat commands use.

The practice page is the ``clients`` command's rows (``bot.coaching.status``) with the five practices drawn as
sparklines from the same history the ``trend`` command charts; a client page is found only through
``CoachDesk.client_of``, the one place that decides whether this viewer may see this client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.coaching.status import RATE_WINDOW, ClientStatus, Recent, recent_of, status_of
from bot.contract.statuses import Severity
from bot.conversation.questions import Practice, QuestionSet
from bot.conversation.texts import Texts
from bot.dashboard.drawn import Drawn, DrawnRows
from bot.dashboard.svg import Mark, Series, sparkline, trend_chart
from bot.runtime.setup import Setup
from bot.scheduling.client_schedule import UnknownClientError, schedule_for, slots_after
from bot.signals.history import HistoryEntry
from bot.store import Alert, Session, alerts, clients, coaching_sessions
from bot.store.clients import ClientGlance
from bot.store.history import history_versions, listed_history, recent_scores

#: The five practices in the order the pages show them.
PRACTICES: tuple[Practice, ...] = ("hope", "focus", "relationship", "trust", "perspective")
#: The states a coach should look at first, most worrying first.
_STATE_CONCERN = {"unreachable": 0, "stopped": 1, "paused": 2, "active": 3, "removed": 4}
_ARROW_CONCERN = {"↓": 0, "→": 1, "·": 2, "↑": 3}
#: How many check-ins a client page lists (a year of weekly ones, and then some); at least ``RATE_WINDOW``, as
#: the page's response rate and arrow are taken from them.
CHECKINS_SHOWN = 60
UPCOMING_CHECKINS = 3


@dataclass(frozen=True, slots=True)
class PracticeRow:
    status: ClientStatus
    #: Practice -> inline SVG of its last check-ins.
    sparklines: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AnswerLine:
    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class CheckInView:
    at: datetime
    status: str
    answers: Sequence[AnswerLine]


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as a client page shows it, in plain values: two loads of an unchanged page compare equal."""

    id: int
    severity: Severity
    created_at: datetime
    acknowledged_at: datetime | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DrawnHistory:
    """What a client page draws from the client's check-ins: the response rate and arrow, the trend chart with
    the alerts marked, and the check-ins as listed."""

    recent: Recent
    chart: str
    checkins: Sequence[CheckInView]


@dataclass(frozen=True, slots=True)
class ClientPage:
    client: ClientGlance
    status: ClientStatus
    chart: str
    checkins: Sequence[CheckInView]
    alerts: Sequence[AlertView]
    upcoming_sessions: Sequence[date]
    upcoming_checkins: Sequence[datetime]


def concern(row: ClientStatus) -> tuple[Any, ...]:
    """Sort key: open alerts, then an unreachable or stopped client, then a falling trend, then fewer replies."""
    rate = row.response_rate if row.response_rate is not None else 2.0
    return (-row.open_alerts, _STATE_CONCERN[row.state], _ARROW_CONCERN.get(row.arrow, 2), rate, row.name)


def practice_questions(question_set: QuestionSet) -> dict[str, str]:
    """Practice -> the id of the question that measures it in this set."""
    return {q.practice: q.id for q in question_set.questions if q.practice is not None}


async def practice(
    session: Session, setup: Setup, coach_id: str | None, now: datetime, drawn: DrawnRows[Drawn]
) -> list[PracticeRow]:
    """One row per client of the coach (``None``: every client), most in need of attention first.

    What a row draws from the client's last check-ins comes from ``drawn`` while their history is unchanged;
    only the clients whose history moved are read (scores only: the page shows no written answer) and redrawn.
    """
    found = await clients.client_glances(session, coach_id=coach_id)
    ids = [client.id for client in found]
    versions = await history_versions(session, ids)
    drawn.for_setup(setup)
    kept = {client_id: drawn.get(client_id, versions.get(client_id)) for client_id in ids}
    missing = [client_id for client_id, row in kept.items() if row is None]
    histories = await recent_scores(session, missing, limit=RATE_WINDOW)
    rows = []
    for client in found:
        row = kept[client.id]
        if row is None:
            row = _drawn(histories.get(client.id, []), setup.question_sets.get(client.question_set), setup.english)
            drawn.put(client.id, versions.get(client.id), row)
        rows.append(PracticeRow(status_of(client, now, row.recent), row.sparklines))
    return sorted(rows, key=lambda row: concern(row.status))


async def client_page(
    session: Session, setup: Setup, coach_id: str | None, client_id: str, now: datetime, drawn: DrawnRows[DrawnHistory]
) -> ClientPage | None:
    """Everything about one client, or None when this viewer may not see them (or they do not exist).

    What the page draws from the check-ins comes from ``drawn`` while the client's history and alerts are
    unchanged; otherwise the check-ins (with their notes, which the page shows) are read and drawn again.
    """
    client = await setup.desk.client_of(session, coach_id, client_id)
    if client is None:
        return None
    raised = await alerts.alerts_for_client(session, client.id)
    marks = tuple(Mark(a.created_at, a.severity == Severity.URGENT) for a in raised)
    version = ((await history_versions(session, [client.id])).get(client.id), marks)
    drawn.for_setup(setup)
    parts = drawn.get(client.id, version)
    if parts is None:
        history = await listed_history(session, client.id, limit=CHECKINS_SHOWN)
        parts = _drawn_history(history, marks, setup.question_sets[client.question_set], setup.english, client.name)
        drawn.put(client.id, version, parts)
    status = status_of(client, now, parts.recent)
    sessions = (await coaching_sessions.recorded_sessions(session, [client.id])).get(client.id, [])
    today = now.date()
    try:
        schedule = schedule_for(setup.config, client.id, sessions=sessions, paused_until=client.paused_until)
        upcoming = slots_after(schedule, now, UPCOMING_CHECKINS) if status.state == "active" else []
    except UnknownClientError:  # removed from config since the last sync: nothing more is scheduled
        upcoming = []
    return ClientPage(
        client=client,
        status=status,
        chart=parts.chart,
        checkins=parts.checkins,
        alerts=[
            AlertView(a.id, a.severity, a.created_at, a.acknowledged_at, tuple(s["reason"] for s in a.signals))
            for a in sorted(raised, key=lambda a: (a.acknowledged_at is not None, -a.created_at.timestamp()))
        ],
        upcoming_sessions=[day for day in sessions if day >= today],
        upcoming_checkins=upcoming,
    )


async def alert_list(session: Session, coach_id: str | None) -> list[tuple[Alert, str]]:
    """Every alert about the viewer's clients with the client's name, open first."""
    return await alerts.alerts_of_coach(session, coach_id)


def _drawn(history: Sequence[HistoryEntry], question_set: QuestionSet | None, texts: Texts) -> Drawn:
    return Drawn(recent_of(history, question_set), _sparklines(history, question_set, texts))


def _drawn_history(
    history: Sequence[HistoryEntry], marks: Sequence[Mark], question_set: QuestionSet, texts: Texts, name: str
) -> DrawnHistory:
    since = history[0].at if history else None  # the chart marks the alerts within its own time range
    chart = trend_chart(
        _series(history, question_set, texts),
        [mark for mark in marks if since is None or mark.at >= since],
        lowest=1,
        highest=5,
        title=texts.render("dashboard_trend_title", client_name=name),
    )
    checkins = [_checkin_view(entry, question_set, texts) for entry in reversed(history)]
    return DrawnHistory(recent_of(history, question_set), chart, checkins)


def _sparklines(history: Sequence[HistoryEntry], question_set: QuestionSet | None, texts: Texts) -> dict[str, str]:
    ids = practice_questions(question_set) if question_set is not None else {}
    lines: dict[str, str] = {}
    for practice_name in PRACTICES:
        question_id = ids.get(practice_name)
        values = [entry.scores.get(question_id) if question_id else None for entry in history]
        last = next((v for v in reversed(values) if v is not None), None)
        name = texts.render(f"dashboard_practice_{practice_name}")
        label = f"{name}: {last:g}" if last is not None else name
        lines[practice_name] = sparkline(values, lowest=1, highest=5, label=label)
    return lines


def _series(history: Sequence[HistoryEntry], question_set: QuestionSet, texts: Texts) -> list[Series]:
    ids = practice_questions(question_set)
    wanted = [(texts.render(f"dashboard_practice_{p}"), ids[p]) for p in PRACTICES if p in ids]
    wanted.append((texts.render("dashboard_goal_progress"), "progress"))
    series = []
    for name, question_id in wanted:
        points = [(e.at, e.scores[question_id]) for e in history if question_id in e.scores]
        series.append(Series(name, points))
    return series


def _checkin_view(entry: HistoryEntry, question_set: QuestionSet, texts: Texts) -> CheckInView:
    lines = []
    for question in question_set.questions:
        if question.id in entry.scores:
            value = entry.scores[question.id]
            label = question.scale.labels.get(round(value), "") if question.scale is not None else ""
            lines.append(AnswerLine(question.text, f"{value:g}" + (f" ({label})" if label else "")))
        elif question.id in entry.texts:
            lines.append(AnswerLine(question.text, entry.texts[question.id]))
    return CheckInView(entry.at, texts.render(f"checkin_status_{entry.status}"), lines)
