"""A client's answers to the per-goal progress question, goal by goal, for their own progress line and chart."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.progress import GoalTrack
from bot.store.models import Answer, CheckIn, Goal


async def goal_tracks(session: AsyncSession, client_id: str) -> list[GoalTrack]:
    """Each of the client's active goals (in config order) with its progress answers, oldest first.

    Only this client's rows are read: the chart and the line show a client their own data and nobody else's.
    """
    goals = (
        await session.scalars(sa.select(Goal).where(Goal.client_id == client_id, Goal.active).order_by(Goal.position))
    ).all()
    rows = await session.execute(
        sa.select(Answer.goal_id, CheckIn.slot, Answer.value)
        .join(CheckIn, CheckIn.id == Answer.checkin_id)
        .where(
            CheckIn.client_id == client_id,
            Answer.dimension == "progress",
            Answer.goal_id.is_not(None),
            Answer.value.is_not(None),
        )
        .order_by(CheckIn.slot, Answer.id)
    )
    points: dict[str, list[tuple[datetime, int]]] = {}
    for goal_id, slot, value in rows:
        if goal_id is not None and value is not None:  # the query admits none; this tells the type checker
            points.setdefault(goal_id, []).append((slot, value))
    return [GoalTrack(goal.title, tuple(points.get(goal.id, ()))) for goal in goals]
