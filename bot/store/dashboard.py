"""Dashboard sign-in links and browser sessions. Callers pass hashes, never the tokens themselves.

A link is redeemed with a conditional UPDATE, so two browsers racing for one link get one session between them;
a session is looked up by its hash and refused once it has been idle too long, and its ``last_seen_at`` moves
only when it is at least ``TOUCH_EVERY`` old, so a page load is normally one read (``needs_touch`` says when to write).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Coach, DashboardLink, DashboardSession

#: How stale ``last_seen_at`` may get before a request writes it again.
TOUCH_EVERY = timedelta(minutes=1)


async def create_link(
    session: AsyncSession, token_hash: str, coach_id: str | None, now: datetime, valid_for: timedelta
) -> None:
    """Store a new link; links that can no longer be used are deleted on the way (they open nothing)."""
    await session.execute(
        sa.delete(DashboardLink).where(sa.or_(DashboardLink.expires_at <= now, DashboardLink.used_at.is_not(None)))
    )
    session.add(DashboardLink(token_hash=token_hash, coach_id=coach_id, created_at=now, expires_at=now + valid_for))
    await session.flush()


async def redeem_link(session: AsyncSession, token_hash: str, now: datetime) -> DashboardLink | None:
    """Mark the link used and return it; None when it is unknown, used or expired."""
    redeemed = await session.scalars(
        sa.update(DashboardLink)
        .where(DashboardLink.token_hash == token_hash, DashboardLink.used_at.is_(None), DashboardLink.expires_at > now)
        .values(used_at=now)
        .returning(DashboardLink)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return redeemed.first()


async def create_session(
    session: AsyncSession, id_hash: str, coach_id: str | None, csrf_token: str, now: datetime, idle: timedelta
) -> None:
    """Store a signed-in browser; sessions idle longer than ``idle`` are deleted on the way."""
    await session.execute(sa.delete(DashboardSession).where(DashboardSession.last_seen_at <= now - idle))
    session.add(
        DashboardSession(id_hash=id_hash, coach_id=coach_id, csrf_token=csrf_token, created_at=now, last_seen_at=now)
    )
    await session.flush()


@dataclass(frozen=True, slots=True)
class LiveSession:
    """What a page load needs of a signed-in browser's session: whose view, the forms' token, when last used."""

    coach_id: str | None
    csrf_token: str
    last_seen_at: datetime


async def live_session(session: AsyncSession, id_hash: str, now: datetime, idle: timedelta) -> LiveSession | None:
    """The session with this hash if it was used within ``idle`` and its coach is still in the config (an
    admin's session has none); a read only, of columns (every page load makes it)."""
    found = (await session.execute(_LIVE, {"id_hash": id_hash, "since": now - idle})).first()
    return LiveSession(*found) if found is not None else None


#: ``live_session``'s query, built once: every page load runs it.
_LIVE = (
    sa.select(DashboardSession.coach_id, DashboardSession.csrf_token, DashboardSession.last_seen_at)
    .outerjoin(Coach, Coach.id == DashboardSession.coach_id)
    .where(
        DashboardSession.id_hash == sa.bindparam("id_hash"),
        DashboardSession.last_seen_at > sa.bindparam("since"),
        sa.or_(DashboardSession.coach_id.is_(None), Coach.active),
    )
)


def needs_touch(found: LiveSession, now: datetime) -> bool:
    """Whether ``last_seen_at`` is stale enough to be written again."""
    return found.last_seen_at <= now - TOUCH_EVERY


async def touch_session(session: AsyncSession, id_hash: str, now: datetime) -> None:
    """Move ``last_seen_at`` to ``now`` (never backwards: two requests may race)."""
    await session.execute(
        sa.update(DashboardSession)
        .where(DashboardSession.id_hash == id_hash, DashboardSession.last_seen_at < now)
        .values(last_seen_at=now)
    )


async def end_session(session: AsyncSession, id_hash: str) -> None:
    await session.execute(sa.delete(DashboardSession).where(DashboardSession.id_hash == id_hash))
