"""Telegram invites: single-use tokens that bind a chat to a coach or client.

An invite link is a bearer credential: whoever opens it becomes the person in the bot's eyes. So only a hash
of the token is stored, a person has at most one open invite (issuing or redeeming one revokes the others),
and an invite moves a person who is already bound to another chat only when the admin asked for that
(``rebind``), so an old or leaked link cannot take over someone's chat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import PersonKind
from bot.store import outbox
from bot.store.identities import bind_telegram_chat, telegram_chat_of
from bot.store.models import TelegramInvite
from bot.store.statements import affected

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    """What is stored for a token: its SHA-256 (the tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Redeemed:
    """An invite that bound a chat; ``moved_from`` is the chat the person was bound to before a re-bind."""

    person_kind: PersonKind
    person_id: str
    moved_from: int | None


async def create_telegram_invite(
    session: AsyncSession,
    token: str,
    person_kind: PersonKind,
    person_id: str,
    expires_at: datetime,
    now: datetime,
    *,
    rebind: bool = False,
) -> TelegramInvite:
    """Store a new invite (its hash) and revoke the person's other open invites."""
    await revoke_invites(session, person_kind, person_id, now)
    invite = TelegramInvite(
        token_hash=token_hash(token), person_kind=person_kind, person_id=person_id, expires_at=expires_at, rebind=rebind
    )
    session.add(invite)
    await session.flush()
    return invite


async def revoke_invites(session: AsyncSession, person_kind: PersonKind, person_id: str, now: datetime) -> int:
    """Revoke the person's open (unused, unrevoked, unexpired) invites; return how many."""
    result = await session.execute(
        sa.update(TelegramInvite)
        .where(
            TelegramInvite.person_kind == person_kind,
            TelegramInvite.person_id == person_id,
            _open(now),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def redeem_telegram_invite(session: AsyncSession, token: str, chat_id: int, now: datetime) -> Redeemed | None:
    """Bind a Telegram chat to the invited person; None when the token is unknown, used, revoked or expired, or
    would move a person bound to another chat without ``rebind``.

    The conditional UPDATE makes the token single-use even when two ``/start`` messages race.
    """
    hashed = token_hash(token)
    candidate = await session.get(TelegramInvite, hashed)
    if candidate is None or candidate.used_at is not None or candidate.revoked_at is not None:
        return None
    bound = await telegram_chat_of(session, candidate.person_kind, candidate.person_id)
    moves = bound is not None and bound != chat_id
    if moves and not candidate.rebind:
        # An invite left over from before the person was bound (only one can be open since, see above).
        log.warning(
            "an invite for %s %s came from a chat other than theirs and was refused; issue one with --rebind "
            "to move them",
            candidate.person_kind,
            candidate.person_id,
        )
        await revoke_invites(session, candidate.person_kind, candidate.person_id, now)
        return None
    redeemed = await session.scalars(
        sa.update(TelegramInvite)
        .where(TelegramInvite.token_hash == hashed, _open(now))
        .values(used_at=now, chat_id=chat_id)
        .returning(TelegramInvite)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    invite = redeemed.first()
    if invite is None:
        return None
    await revoke_invites(session, invite.person_kind, invite.person_id, now)
    await bind_telegram_chat(session, invite.person_kind, invite.person_id, chat_id)
    if moves:
        person = (invite.person_kind, invite.person_id)
        moved = await outbox.readdress(session, person, "telegram", str(bound), str(chat_id))
        if moved:
            log.info("%d queued messages for %s %s follow them to their new chat", moved, *person)
    return Redeemed(invite.person_kind, invite.person_id, bound if moves else None)


async def invite_by_token(session: AsyncSession, token: str) -> TelegramInvite | None:
    return await session.get(TelegramInvite, token_hash(token))


async def list_invites(session: AsyncSession) -> list[TelegramInvite]:
    """Every stored invite, newest expiry first (for ``checkin invites``; the rows hold no token)."""
    query = sa.select(TelegramInvite).order_by(
        TelegramInvite.expires_at.desc(), TelegramInvite.person_kind, TelegramInvite.person_id
    )
    return list((await session.scalars(query)).all())


def _open(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        TelegramInvite.used_at.is_(None), TelegramInvite.revoked_at.is_(None), TelegramInvite.expires_at > now
    )
