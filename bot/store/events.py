"""Inbound de-duplication: the platform events already handled, so a redelivery is ignored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    ProcessedEvent,
)
from bot.store.statements import insert_for


async def remember_event(session: AsyncSession, platform: str, event_key: str, now: datetime) -> bool:
    """Record an inbound event; True the first time it is seen, False for a redelivery."""
    stmt = (
        insert_for(session, ProcessedEvent)
        .values(platform=platform, event_key=event_key, seen_at=now)
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
    return int(getattr(result, "rowcount", 0) or 0)
