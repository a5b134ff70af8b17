"""Who is behind a platform address: the lookups that turn an inbound sender into a client or coach."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    Client,
    Coach,
)


def _identity_clause(
    entity: type[Client] | type[Coach], platform: str, address: str, email: str | None = None
) -> sa.ColumnElement[bool]:
    """Who ``address`` is on ``platform``.

    A Slack person configured by e-mail is known by that address until the adapter resolves it: outbound as
    the address ``email:<address>``, inbound by the ``email`` the adapter looked up for the sender's user id.
    """
    if platform == "slack":
        if address.startswith("email:"):
            return sa.func.lower(entity.slack_email) == address.removeprefix("email:").lower()
        if email:
            return sa.or_(entity.slack_user_id == address, sa.func.lower(entity.slack_email) == email.lower())
        return entity.slack_user_id == address
    if platform == "telegram":
        try:
            return entity.telegram_chat_id == int(address)
        except ValueError:
            return sa.false()
    if platform == "console":
        return entity.id == address
    raise ValueError(f"unknown platform {platform!r}")


async def find_client_by_identity(
    session: AsyncSession, platform: str, address: str, email: str | None = None
) -> Client | None:
    """The active client behind a platform address (Slack user id, Telegram chat id, console client id)."""
    query = sa.select(Client).where(Client.active, _identity_clause(Client, platform, address, email))
    if platform == "slack":
        query = query.where(Client.platform == "slack")
    return (await session.scalars(query.order_by(Client.id).limit(1))).first()


async def find_coach_by_identity(
    session: AsyncSession, platform: str, address: str, email: str | None = None
) -> Coach | None:
    """The active coach behind a platform address, for alert buttons and coach commands."""
    query = sa.select(Coach).where(Coach.active, _identity_clause(Coach, platform, address, email))
    return (await session.scalars(query.order_by(Coach.id).limit(1))).first()
