"""Telegram invites: single-use tokens that bind a chat to a coach or client."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import PersonKind
from bot.store.identities import bind_telegram_chat
from bot.store.models import (
    TelegramInvite,
)


async def create_telegram_invite(
    session: AsyncSession, token: str, person_kind: PersonKind, person_id: str, expires_at: datetime
) -> TelegramInvite:
    invite = TelegramInvite(token=token, person_kind=person_kind, person_id=person_id, expires_at=expires_at)
    session.add(invite)
    await session.flush()
    return invite


async def redeem_telegram_invite(
    session: AsyncSession, token: str, chat_id: int, now: datetime
) -> TelegramInvite | None:
    """Bind a Telegram chat to the invited person; None when the token is unknown, used or expired.

    The conditional UPDATE makes the token single-use even when two ``/start`` messages race.
    """
    redeemed = await session.scalars(
        sa.update(TelegramInvite)
        .where(TelegramInvite.token == token, TelegramInvite.used_at.is_(None), TelegramInvite.expires_at > now)
        .values(used_at=now, chat_id=chat_id)
        .returning(TelegramInvite)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    invite = redeemed.first()
    if invite is None:
        return None
    await bind_telegram_chat(session, invite.person_kind, invite.person_id, chat_id)
    return invite


async def invite_by_token(session: AsyncSession, token: str) -> TelegramInvite | None:
    return await session.get(TelegramInvite, token)
