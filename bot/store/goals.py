"""Goals: what each client is working towards, mirrored from config (see ``people.sync_people``)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Goal
from bot.store.statements import among


async def active_goals(session: AsyncSession, client_ids: Collection[str]) -> dict[str, list[Goal]]:
    """Each named client's active goals in their configured order; a client without any is absent."""
    rows = await session.scalars(
        sa.select(Goal)
        .where(among(session, Goal.client_id, client_ids), Goal.active)
        .order_by(Goal.client_id, Goal.position)
    )
    goals: dict[str, list[Goal]] = {}
    for goal in rows:
        goals.setdefault(goal.client_id, []).append(goal)
    return goals
