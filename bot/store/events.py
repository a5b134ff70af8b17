"""Inbound de-duplication: the platform events already handled, so a redelivery is ignored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import PersonKind
from bot.store.models import ProcessedEvent
from bot.store.statements import affected, insert_for


async def remember_event(
    session: AsyncSession, platform: str, event_key: str, now: datetime, sender: tuple[PersonKind, str]
) -> bool:
    """Record an inbound event from a known person; True the first time it is seen, False for a redelivery."""
    kind, person_id = sender
    stmt = (
        insert_for(session, ProcessedEvent)
        .values(platform=platform, event_key=event_key, seen_at=now, person_kind=kind, person_id=person_id)
        .on_conflict_do_nothing(index_elements=[ProcessedEvent.platform, ProcessedEvent.event_key])
        .returning(ProcessedEvent.event_key)
    )
    return (await session.scalars(stmt)).first() is not None


async def forget_processed_events(session: AsyncSession, seen_before: datetime) -> int:
    """Drop inbound de-duplication records older than any re-delivery; returns how many went."""
    result = await session.execute(
        sa.delete(ProcessedEvent)
        .where(ProcessedEvent.seen_at < seen_before)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def forget_events_of(session: AsyncSession, kind: PersonKind, person_id: str) -> int:
    """Drop the inbound event ids a person's messages left, for erasure; returns how many went."""
    result = await session.execute(
        sa.delete(ProcessedEvent)
        .where(ProcessedEvent.person_kind == kind, ProcessedEvent.person_id == person_id)
        .execution_options(synchronize_session=False)
    )
    return affected(result)
