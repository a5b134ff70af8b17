"""Coaching sessions coaches recorded, for cadences that run "N days after each session"."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    CoachingSession,
)
from bot.store.statements import among, insert_for
from bot.store.streaming import partitions


async def record_session(session: AsyncSession, client_id: str, day: date, recorded_by: str, now: datetime) -> bool:
    """Remember a coaching session date; False when it was already recorded."""
    stmt = (
        insert_for(session, CoachingSession)
        .values(client_id=client_id, session_date=day, recorded_by=recorded_by, recorded_at=now)
        .on_conflict_do_nothing(index_elements=[CoachingSession.client_id, CoachingSession.session_date])
        .returning(CoachingSession.client_id)
    )
    return (await session.scalars(stmt)).first() is not None


async def recorded_sessions(session: AsyncSession, client_ids: Collection[str] | None = None) -> dict[str, list[date]]:
    """Recorded session dates per client (all clients, or those named), oldest first, in one query."""
    query = sa.select(CoachingSession.client_id, CoachingSession.session_date).order_by(
        CoachingSession.client_id, CoachingSession.session_date
    )
    if client_ids is not None:
        query = query.where(among(session, CoachingSession.client_id, client_ids))
    sessions: dict[str, list[date]] = {}
    async for partition in partitions(session, query):
        for client_id, day in partition:
            sessions.setdefault(client_id, []).append(day)
    return sessions
