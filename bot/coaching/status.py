"""Each client at a glance: the rows of `checkin status` and of a coach's `clients` command.

Derived only (state, last check-in, response rate, trend arrow, open alerts), never answer content, so an
admin's table shows how the check-ins are going without showing what anybody said.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.contract.statuses import OPEN_CHECKIN_STATUSES, CheckInStatus
from bot.conversation.questions import QuestionSet
from bot.signals.detectors.common import relationship_questions
from bot.signals.digest import trend_arrow
from bot.signals.history import HistoryEntry
from bot.store import Session, alerts, checkins, clients, history
from bot.store.history import client_histories
from bot.store.models import CheckIn, Client

#: How many recent check-ins the response rate is taken over.
RATE_WINDOW = 10

ClientState = Literal["active", "paused", "stopped", "unreachable", "removed"]


@dataclass(frozen=True, slots=True)
class ClientStatus:
    id: str
    name: str
    coach_id: str
    timezone: str
    state: ClientState
    #: Set only while the client is paused.
    paused_until: datetime | None
    last_checkin_at: datetime | None
    last_checkin_status: str | None
    #: Completed over finished check-ins in the last ``RATE_WINDOW``; ``None`` before the first one closed.
    response_rate: float | None
    arrow: str
    open_alerts: int


def client_state(client: Client, now: datetime) -> ClientState:
    if not client.active:
        return "removed"
    if client.opted_out_at is not None:
        return "stopped"
    if client.unreachable_at is not None:
        return "unreachable"
    if client.paused_until is not None and client.paused_until > now:
        return "paused"
    return "active"


async def client_statuses(
    session: Session,
    question_sets: Mapping[str, QuestionSet],
    now: datetime,
    *,
    coach_id: str | None = None,
    client_ids: Collection[str] | None = None,
) -> list[ClientStatus]:
    """One row per active client (of one coach, or those named, or all), by name.

    A fixed number of queries whatever the number of clients: the response rate and the trend arrow come from
    per-client window queries, not from each client's history read one after the other.
    """
    listed = await clients.active_clients(session, coach_id=coach_id, client_ids=client_ids)
    open_alerts = await alerts.open_alert_counts(session, coach_id)
    latest = await checkins.latest_checkins(session, [c.id for c in listed])
    counts = await history.response_counts(session, window=RATE_WINDOW, coach_id=coach_id, client_ids=client_ids)
    scored: dict[str, list[HistoryEntry]] = {}
    for name in sorted({c.question_set for c in listed if c.question_set in question_sets}):
        scales = {q.id: (q.scale.min, q.scale.max) for q in relationship_questions(question_sets[name]) if q.scale}
        scored |= await history.latest_scored(
            session, name, scales, window=RATE_WINDOW, count=2, coach_id=coach_id, client_ids=client_ids
        )
    rows = []
    for client in listed:
        last = latest.get(client.id)
        completed, finished = counts.get(client.id, (0, 0))
        question_set = question_sets.get(client.question_set)
        state = client_state(client, now)
        rows.append(
            ClientStatus(
                id=client.id,
                name=client.name,
                coach_id=client.coach_id,
                timezone=client.timezone,
                state=state,
                paused_until=client.paused_until if state == "paused" else None,
                last_checkin_at=last.slot if last is not None else None,
                last_checkin_status=_shown_status(last) if last is not None else None,
                response_rate=completed / finished if finished else None,
                arrow=trend_arrow(scored.get(client.id, []), question_set) if question_set is not None else "·",
                open_alerts=open_alerts.get(client.id, 0),
            )
        )
    return rows


async def statuses_with_history(
    session: Session,
    question_sets: Mapping[str, QuestionSet],
    now: datetime,
    *,
    coach_id: str | None = None,
    client_ids: Collection[str] | None = None,
) -> list[tuple[ClientStatus, list[HistoryEntry]]]:
    """``client_statuses`` with each client's last ``RATE_WINDOW`` check-ins (the dashboard draws them), read
    in one go for all the clients."""
    rows = await client_statuses(session, question_sets, now, coach_id=coach_id, client_ids=client_ids)
    histories = await client_histories(session, [row.id for row in rows], limit=RATE_WINDOW)
    return [(row, histories.get(row.id, [])) for row in rows]


def _shown_status(checkin: CheckIn) -> str:
    """A check-in still open whose messages the outbox gave up on cannot be answered: it shows as failed."""
    if checkin.undelivered_at is not None and checkin.status in OPEN_CHECKIN_STATUSES:
        return CheckInStatus.FAILED
    return checkin.status
