"""Each client at a glance: the rows of `checkin status` and of a coach's `clients` command.

Derived only (state, last check-in, response rate, trend arrow, open alerts), never answer content, so an
admin's table shows how the check-ins are going without showing what anybody said.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.contract.statuses import OPEN_CHECKIN_STATUSES, CheckInStatus
from bot.conversation.questions import QuestionSet
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.digest import trend_arrow
from bot.signals.history import HistoryEntry
from bot.store import Session, clients, history
from bot.store.clients import ClientGlance

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


class StateFacts(Protocol):
    """What a client's state is read from: a stored client, or a ``ClientGlance``."""

    @property
    def active(self) -> bool: ...
    @property
    def opted_out_at(self) -> datetime | None: ...
    @property
    def unreachable_at(self) -> datetime | None: ...
    @property
    def paused_until(self) -> datetime | None: ...


def client_state(client: StateFacts, now: datetime) -> ClientState:
    if not client.active:
        return "removed"
    if client.opted_out_at is not None:
        return "stopped"
    if client.unreachable_at is not None:
        return "unreachable"
    if client.paused_until is not None and client.paused_until > now:
        return "paused"
    return "active"


@dataclass(frozen=True, slots=True)
class Recent:
    """What a client's last ``RATE_WINDOW`` finished check-ins say: the response rate and the trend arrow."""

    response_rate: float | None
    arrow: str


def recent_of(history: Sequence[HistoryEntry], question_set: QuestionSet | None) -> Recent:
    """``Recent`` from a history already read (oldest first): the figures ``client_statuses`` gets from its window
    queries, for a reader that holds the check-ins anyway (the dashboard draws them)."""
    window = history[-RATE_WINDOW:]
    completed = sum(entry.status == CheckInStatus.COMPLETED for entry in window)
    finished = sum(entry.status in (CheckInStatus.COMPLETED, CheckInStatus.EXPIRED) for entry in window)
    return Recent(
        response_rate=completed / finished if finished else None,
        arrow=trend_arrow(window, question_set) if question_set is not None else "·",
    )


def status_of(client: ClientGlance, now: datetime, recent: Recent) -> ClientStatus:
    """A client's row from what is read fresh on every request (state, latest check-in, open alerts: an alert or
    a pause changes them without a check-in) and ``Recent``."""
    state = client_state(client, now)
    return ClientStatus(
        id=client.id,
        name=client.name,
        coach_id=client.coach_id,
        timezone=client.timezone,
        state=state,
        paused_until=client.paused_until if state == "paused" else None,
        last_checkin_at=client.last_slot,
        last_checkin_status=_shown_status(client.last_status, client.last_undelivered_at),
        response_rate=recent.response_rate,
        arrow=recent.arrow,
        open_alerts=client.open_alerts,
    )


async def client_statuses(
    session: Session,
    question_sets: Mapping[str, QuestionSet],
    now: datetime,
    *,
    coach_id: str | None = None,
    client_ids: Collection[str] | None = None,
) -> list[ClientStatus]:
    """One row per active client (of one coach, or those named, or all), by name.

    Two queries whatever the number of clients (one more per ``history.SCORES_BATCH`` clients): the rate is
    counted in the database and only the two newest completed check-ins are read for the arrow (at 10,000
    clients with 50 check-ins each on SQLite, 2.2 s when every check-in of the window was read, 1.1 s now).
    The rare clients whose two newest lack an alliance index (every relationship answer skipped or off the
    scale) have their whole window read, in a third query for all of them.
    """
    found = await clients.client_glances(session, coach_id=coach_id, client_ids=client_ids)
    glances = await history.recent_glances(session, [c.id for c in found], limit=RATE_WINDOW)
    recent = {c.id: _recent(glances.get(c.id, _NO_GLANCE), question_sets.get(c.question_set)) for c in found}
    reread: dict[str, Recent] = {}
    if unscored := [c for c in found if recent[c.id] is None]:
        windows = await history.recent_scores(session, [c.id for c in unscored], limit=RATE_WINDOW)
        for client in unscored:
            reread[client.id] = recent_of(windows.get(client.id, []), question_sets.get(client.question_set))
    return [status_of(c, now, recent[c.id] or reread[c.id]) for c in found]


_NO_GLANCE = history.RecentGlance(completed=0, finished=0, latest=[])


def _recent(glance: history.RecentGlance, question_set: QuestionSet | None) -> Recent | None:
    """``Recent`` from the counts and the two newest completed check-ins; None when both are there but one
    carries no alliance index, so that the arrow must look further back in the window."""
    rate = glance.completed / glance.finished if glance.finished else None
    if question_set is None:
        return Recent(response_rate=rate, arrow="·")
    questions = relationship_questions(question_set)
    if len(glance.latest) == 2 and any(alliance_index(entry, questions) is None for entry in glance.latest):
        return None
    return Recent(response_rate=rate, arrow=trend_arrow(glance.latest, question_set))


def _shown_status(status: CheckInStatus | None, undelivered_at: datetime | None) -> str | None:
    """A check-in still open whose messages the outbox gave up on cannot be answered: it shows as failed."""
    if undelivered_at is not None and status in OPEN_CHECKIN_STATUSES:
        return CheckInStatus.FAILED
    return status
