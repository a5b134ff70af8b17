"""A client's runtime state: pauses, opt-out, privacy notice, reachability, snoozed alerts.

Every query takes the caller's session; the caller owns the transaction, so a state change and the outbox
rows it causes commit together (DESIGN §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.identities import find_client_by_identity
from bot.store.models import (
    Client,
)


async def _update_client(session: AsyncSession, client_id: str, **values: Any) -> None:
    updated = await session.scalars(
        sa.update(Client).where(Client.id == client_id).values(**values).returning(Client.id)
    )
    if updated.first() is None:
        raise LookupError(f"no client {client_id!r}")


async def set_client_pause(session: AsyncSession, client_id: str, until: datetime | None) -> None:
    await _update_client(session, client_id, paused_until=until)


async def set_client_opt_out(session: AsyncSession, client_id: str, at: datetime | None) -> None:
    await _update_client(session, client_id, opted_out_at=at)


async def mark_privacy_notice_sent(session: AsyncSession, client_ids: Sequence[str], now: datetime) -> set[str]:
    """Record that these clients were told what is collected; returns those marked now (not before)."""
    if not client_ids:
        return set()
    updated = await session.scalars(
        sa.update(Client)
        .where(Client.id.in_(client_ids), Client.privacy_notice_sent_at.is_(None))
        .values(privacy_notice_sent_at=now)
        .returning(Client.id)
        .execution_options(synchronize_session=False)
    )
    return set(updated.all())


async def mark_unreachable(
    session: AsyncSession, platform: str, recipient: str, reason: str, now: datetime
) -> Client | None:
    """Mark the client behind an address as unreachable; return them only the first time, to tell the coach once."""
    client = await find_client_by_identity(session, platform, recipient)
    if client is None or client.unreachable_at is not None:
        return None
    client.unreachable_at = now
    client.unreachable_reason = reason
    return client


async def clear_unreachable(session: AsyncSession, client_id: str) -> None:
    await _update_client(session, client_id, unreachable_at=None, unreachable_reason=None)


async def set_alerts_snoozed(session: AsyncSession, client_id: str, until: datetime | None) -> None:
    await _update_client(session, client_id, alerts_snoozed_until=until)
