"""Messages for a coach that wait: for the coach's first address, or for the end of their quiet hours.

A waiting message keeps the outbox key it will be queued under, so holding it again or releasing it twice
(two replicas sweeping at once) queues it once. Its text is sealed like the outbox's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.database import sealer_of
from bot.store.models import CoachWaiting
from bot.store.sealed import open_payload, seal_payload
from bot.store.statements import insert_for


@dataclass(frozen=True, slots=True)
class Waiting:
    """One held message, its text opened."""

    id: int
    coach_id: str
    client_id: str | None
    idempotency_key: str
    payload: dict[str, Any]


async def hold(
    session: AsyncSession,
    coach_id: str,
    client_id: str | None,
    idempotency_key: str,
    payload: dict[str, Any],
    hold_until: datetime | None,
    now: datetime,
) -> bool:
    """Keep a message for the coach until it may go; False when that key waits already."""
    stmt = (
        insert_for(session, CoachWaiting)
        .values(
            coach_id=coach_id,
            client_id=client_id,
            idempotency_key=idempotency_key,
            payload=seal_payload(sealer_of(session), payload),
            hold_until=hold_until,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[CoachWaiting.idempotency_key])
        .returning(CoachWaiting.id)
    )
    return (await session.execute(stmt)).first() is not None


async def has_waiting(session: AsyncSession, coach_id: str) -> bool:
    """Whether anything waits for the coach: a new message then waits behind it, so the order holds."""
    query = sa.select(CoachWaiting.id).where(CoachWaiting.coach_id == coach_id).limit(1)
    return await session.scalar(query) is not None


async def is_waiting(session: AsyncSession, idempotency_key: str) -> bool:
    query = sa.select(CoachWaiting.id).where(CoachWaiting.idempotency_key == idempotency_key)
    return await session.scalar(query) is not None


async def coaches_waiting(session: AsyncSession, now: datetime) -> list[str]:
    """The coaches with a message whose quiet hours are over (or that only waits for an address)."""
    query = (
        sa.select(CoachWaiting.coach_id)
        .where(sa.or_(CoachWaiting.hold_until.is_(None), CoachWaiting.hold_until <= now))
        .distinct()
        .order_by(CoachWaiting.coach_id)
    )
    return list((await session.scalars(query)).all())


async def take_due(session: AsyncSession, coach_id: str, now: datetime | None) -> list[Waiting]:
    """Remove and return the coach's messages that may go at ``now`` (all of them for ``None``: an urgent
    alert is going out and takes what waits with it), oldest first, locked against other replicas.

    A message still inside quiet hours stops the take there, so nothing overtakes it. A message no configured
    key opens is dropped (and logged by row): it could never be sent.
    """
    rows = (
        await session.scalars(
            sa.select(CoachWaiting)
            .where(CoachWaiting.coach_id == coach_id)
            .order_by(CoachWaiting.id)
            # Wait for a replica releasing the same coach rather than skip its rows: taking a later message
            # while earlier ones are still being released would let it overtake them.
            .with_for_update()
        )
    ).all()
    due: list[CoachWaiting] = []
    for row in rows:
        if now is not None and row.hold_until is not None and row.hold_until > now:
            break
        due.append(row)
    if not due:
        return []
    await session.execute(sa.delete(CoachWaiting).where(CoachWaiting.id.in_([row.id for row in due])))
    sealer = sealer_of(session)
    taken: list[Waiting] = []
    for row in due:
        opened = open_payload(sealer, row.payload, f"waiting message {row.id}")
        if opened is not None:
            taken.append(Waiting(row.id, row.coach_id, row.client_id, row.idempotency_key, opened))
    return taken


async def add_to_payload(session: AsyncSession, idempotency_key: str, extra: dict[str, Any]) -> bool:
    """Add ``extra`` to a waiting message's payload (an image drawn after it was held); False if none waits."""
    row = await session.scalar(
        sa.select(CoachWaiting).where(CoachWaiting.idempotency_key == idempotency_key).with_for_update()
    )
    if row is None:
        return False
    row.payload = {**row.payload, **extra}  # the text stays as it was stored, sealed
    return True
