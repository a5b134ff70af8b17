"""Goals: what each client is working towards, mirrored from config (see ``people.sync_people``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Goal
from bot.store.statements import among


class ActiveGoal(NamedTuple):
    """A goal as a check-in asks about it. Columns, not an entity: a batch of check-ins reads a goal or more for
    each of its clients, and building the ORM entities cost several times reading them."""

    id: str
    title: str


async def active_goals(session: AsyncSession, client_ids: Collection[str]) -> dict[str, list[ActiveGoal]]:
    """Each named client's active goals in their configured order; a client without any is absent."""
    rows = await session.execute(
        sa.select(Goal.client_id, Goal.id, Goal.title)
        .where(among(session, Goal.client_id, client_ids), Goal.active)
        .order_by(Goal.client_id, Goal.position)
    )
    goals: dict[str, list[ActiveGoal]] = {}
    for client_id, goal_id, title in rows:
        goals.setdefault(client_id, []).append(ActiveGoal(goal_id, title))
    return goals
