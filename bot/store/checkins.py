"""Check-ins: claiming slots, finding the open one, sweeping the ones still waiting.

The caller owns the transaction so a claimed check-in and the outbox rows that open it commit together
(DESIGN §6).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import OPEN_CHECKIN_STATUSES, CheckInStatus
from bot.store.models import (
    CheckIn,
)
from bot.store.statements import among, chunks, not_among, on_postgresql, unnested
from bot.store.streaming import partitions


@dataclass(frozen=True, slots=True)
class Claim:
    """A check-in to start: the slot it belongs to and the conversation state it opens with."""

    client_id: str
    slot: datetime
    question_set: str
    state: dict[str, Any]
    #: The set's questions as asked (``QuestionSet.to_json``), kept with the check-in: JSON text, which clients
    #: asked the same set in the same language share, so it is serialized once for all of them, not per row.
    questions: str | None = None


async def claim_checkins(session: AsyncSession, claims: Sequence[Claim], now: datetime) -> dict[str, int]:
    """Insert check-ins for their (client, slot); return client id -> check-in id for the claims won.

    The unique (client, slot) makes this the dispatch idempotency key: a claim someone else (another
    replica, an earlier pass) already made is silently not returned, and the transaction stays usable.
    Claimed check-ins start as ``sent`` because their opening messages go into the outbox in the same
    transaction.
    """
    if not claims:
        return {}
    if on_postgresql(session):
        result = await session.execute(_CLAIM_FROM_ARRAYS, _claim_arrays(claims, now))
        return {client_id: checkin_id for client_id, checkin_id in result}
    rows = [
        {
            "client_id": c.client_id,
            "slot": c.slot,
            "question_set": c.question_set,
            "state": c.state,
            "questions_text": c.questions,
            "created_at": now,
            "sent_at": now,
            "last_activity_at": now,
        }
        for c in claims
    ]
    won: dict[str, int] = {}
    for chunk in chunks(rows, 500):
        result = await session.execute(_CLAIM_SQLITE.execution_options(insertmanyvalues_page_size=500), list(chunk))
        won.update({client_id: checkin_id for client_id, checkin_id in result})
    return won


def _claim_arrays(claims: Sequence[Claim], now: datetime) -> dict[str, Any]:
    """``_CLAIM_FROM_ARRAYS``'s parameters: a column per array, and each distinct questions text once."""
    asked: dict[str, int] = {}
    return {
        "client_id": [c.client_id for c in claims],
        "slot": [c.slot for c in claims],
        "question_set": [c.question_set for c in claims],
        "state": [json.dumps(c.state) for c in claims],
        "asked": [None if c.questions is None else asked.setdefault(c.questions, len(asked) + 1) for c in claims],
        "questions": list(asked),
        "now": now,
    }


_checkins = cast(sa.Table, CheckIn.__table__)


def _claim_from_arrays() -> Any:
    """``claim_checkins``'s INSERT on PostgreSQL: the claims as arrays (``statements.unnested``), and the questions
    texts the claims ask, each once, joined by number.

    Clients of a set and language share one questions text of a few kilobytes, which the server turns into JSONB:
    bound with every row it was parsed for every row, a sixth of the server's CPU per claim.
    """
    table = _checkins
    claims = unnested(
        "claims",
        {
            "client_id": table.c.client_id.type,
            "slot": table.c.slot.type,
            "question_set": table.c.question_set.type,
            "state": sa.Text(),
            "asked": sa.Integer(),
        },
    )
    texts = sa.bindparam("questions", type_=postgresql.ARRAY(sa.Text()))
    asked = (
        sa.func.unnest(sa.cast(texts, postgresql.ARRAY(postgresql.JSONB)))
        .table_valued("questions", with_ordinality="number")
        .render_derived(name="asked")
    )
    now = sa.bindparam("now", type_=table.c.created_at.type)
    rows = sa.select(
        claims.c.client_id,
        claims.c.slot,
        claims.c.question_set,
        sa.cast(claims.c.state, postgresql.JSONB),
        asked.c.questions,
        now,
        now,
        now,
        sa.bindparam("status", CheckInStatus.SENT, type_=table.c.status.type),
    ).select_from(claims.outerjoin(asked, asked.c.number == claims.c.asked))
    columns = ["client_id", "slot", "question_set", "state", "questions", "created_at", "sent_at", "last_activity_at"]
    return (
        postgresql.insert(table)
        .from_select([*columns, "status"], rows)
        .on_conflict_do_nothing(index_elements=[table.c.client_id, table.c.slot])
        .returning(table.c.client_id, table.c.id)
    )


_CLAIM_FROM_ARRAYS = _claim_from_arrays()
#: ``claim_checkins``'s INSERT on SQLite, an executemany; the questions arrive as JSON text, stored as it is.
_CLAIM_SQLITE = (
    sqlite.insert(_checkins)
    .values(status=CheckInStatus.SENT, reminders_sent=0, questions=sa.bindparam("questions_text", type_=sa.Text()))
    .on_conflict_do_nothing(index_elements=[_checkins.c.client_id, _checkins.c.slot])
    .returning(_checkins.c.client_id, _checkins.c.id)
)


async def claimed(session: AsyncSession, due: Sequence[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """Which of these (client, slot) pairs already have their check-in (started by another replica)."""
    if not due:
        return set()
    query = sa.select(CheckIn.client_id, CheckIn.slot).where(
        among(session, CheckIn.client_id, {client_id for client_id, _ in due}),
        among(session, CheckIn.slot, {slot for _, slot in due}),
    )
    wanted = set(due)
    return {(client_id, slot) for client_id, slot in await session.execute(query) if (client_id, slot) in wanted}


async def expire_superseded(session: AsyncSession, newest: dict[str, int]) -> None:
    """Close the still-open check-ins of these clients other than their newest: a new slot replaces them."""
    if newest:
        await session.execute(
            sa.update(CheckIn)
            .where(
                among(session, CheckIn.client_id, newest),
                CheckIn.status.in_(OPEN_CHECKIN_STATUSES),
                not_among(session, CheckIn.id, newest.values()),
            )
            .values(status=CheckInStatus.EXPIRED)
            .execution_options(synchronize_session=False)
        )


async def open_checkin_for_update(session: AsyncSession, client_id: str) -> CheckIn | None:
    """The client's newest check-in awaiting answers, row-locked so concurrent replies apply in turn."""
    query = (
        sa.select(CheckIn)
        .where(CheckIn.client_id == client_id, CheckIn.status.in_(OPEN_CHECKIN_STATUSES))
        .order_by(CheckIn.slot.desc(), CheckIn.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def last_slots(session: AsyncSession, client_ids: Collection[str] | None = None) -> dict[str, datetime]:
    """Each client's latest claimed slot: everything up to it has been dispatched or deliberately passed."""
    # max() keeps the column's type, so the slots come back as aware UTC like any other read.
    query = sa.select(CheckIn.client_id, sa.func.max(CheckIn.slot)).group_by(CheckIn.client_id)
    if client_ids is not None:
        query = query.where(among(session, CheckIn.client_id, client_ids))
    slots: dict[str, datetime] = {}
    async for partition in partitions(session, query):
        slots.update(partition)
    return slots


class OpenCheckIn(NamedTuple):
    """What the reminder and expiry sweep reads of an open check-in. A tuple of plain values, which the garbage
    collector stops tracking: every client can have one open, and each full collection during a sweep walked
    them all."""

    id: int
    client_id: str
    created_at: datetime
    sent_at: datetime | None
    reminders_sent: int


async def open_checkins(session: AsyncSession) -> list[OpenCheckIn]:
    """Check-ins still waiting for the client, for the reminder and expiry sweep.

    Columns rather than entities: at 10,000 clients every one of them has a check-in open most of the day, and
    building ORM objects for all of them held the event loop for half a second each minute.
    """
    query = (
        sa.select(CheckIn.id, CheckIn.client_id, CheckIn.created_at, CheckIn.sent_at, CheckIn.reminders_sent)
        .where(CheckIn.status.in_(OPEN_CHECKIN_STATUSES))
        .order_by(CheckIn.id)
    )
    return [OpenCheckIn._make(row) async for partition in partitions(session, query) for row in partition]


async def checkin_by_id(session: AsyncSession, checkin_id: int, *, for_update: bool = False) -> CheckIn | None:
    """One check-in; ``for_update`` row-locks it, so replicas sweeping together change it once."""
    return await session.get(CheckIn, checkin_id, with_for_update=for_update)


async def conversation_states(
    session: AsyncSession, client_id: str, slots: Collection[datetime]
) -> dict[datetime, Any]:
    """The stored conversation state of the client's check-ins at these slots (what was asked, what skipped)."""
    query = sa.select(CheckIn.slot, CheckIn.state).where(CheckIn.client_id == client_id, CheckIn.slot.in_(list(slots)))
    return {slot: state for slot, state in (await session.execute(query)).all()}
