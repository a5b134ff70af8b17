"""Coach lookups."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Coach


async def coach_by_id(session: AsyncSession, coach_id: str) -> Coach | None:
    return await session.get(Coach, coach_id)
