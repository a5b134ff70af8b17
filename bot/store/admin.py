"""What an admin does to one client's data, or to old data: export it, erase it, purge it by age.

These are the data-subject and retention tools of DESIGN §7. They read and delete through the store only,
inside the caller's transaction, so an export is one consistent snapshot and an erasure is all or nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import CLOSED_CHECKIN_STATUSES, SETTLED_OUTBOX_STATUSES, PersonKind
from bot.store.alerts import alerts_for_client
from bot.store.answers import answers_for
from bot.store.coaching_sessions import recorded_sessions
from bot.store.events import forget_events_of, forget_processed_events
from bot.store.identities import address_key, addresses_of, forget_identities
from bot.store.models import (
    Alert,
    Answer,
    CheckIn,
    Client,
    CoachingSession,
    CoachWaiting,
    Goal,
    IdentityKind,
    OutboxMessage,
    TelegramInvite,
)
from bot.store.outbox import ABOUT
from bot.store.statements import affected, chunks

EXPORT_FIELDS = (
    "checkin_id",
    "slot",
    "status",
    "question_id",
    "dimension",
    "goal_id",
    "value",
    "text",
    "answered_at",
)


async def export_client(session: AsyncSession, client_id: str) -> dict[str, Any]:
    """Everything stored about one client, as JSON-ready data; ``LookupError`` if the database has no such client."""
    client = await session.get(Client, client_id)
    if client is None:
        raise LookupError(client_id)
    goals = await session.scalars(sa.select(Goal).where(Goal.client_id == client_id).order_by(Goal.position))
    sessions = await recorded_sessions(session, [client_id])
    checkins = (
        await session.scalars(sa.select(CheckIn).where(CheckIn.client_id == client_id).order_by(CheckIn.slot))
    ).all()
    return {
        "client": {
            "id": client.id,
            "name": client.name,
            "coach": client.coach_id,
            "timezone": client.timezone,
            "language": client.language,
            "platform": client.platform,
            "slack_user_id": client.identity("slack", IdentityKind.USER_ID),
            "slack_email": client.identity("slack", IdentityKind.EMAIL),
            "telegram_chat_id": int(chat_id)
            if (chat_id := client.identity("telegram", IdentityKind.CHAT_ID))
            else None,
            "paused_until": _iso(client.paused_until),
            "opted_out_at": _iso(client.opted_out_at),
            "privacy_notice_sent_at": _iso(client.privacy_notice_sent_at),
            "unreachable_at": _iso(client.unreachable_at),
            "active": client.active,
        },
        "goals": [{"id": g.id, "title": g.title, "active": g.active} for g in goals],
        "sessions": [d.isoformat() for d in sessions.get(client_id, [])],
        "checkins": [
            {
                "id": c.id,
                "slot": _iso(c.slot),
                "status": c.status,
                "sent_at": _iso(c.sent_at),
                "completed_at": _iso(c.completed_at),
                "answers": [_answer(a) for a in await answers_for(session, c.id)],
            }
            for c in checkins
        ],
        "alerts": [
            {
                "id": a.id,
                "checkin_id": a.checkin_id,
                "severity": a.severity,
                "signals": a.signals,
                "created_at": _iso(a.created_at),
                "acknowledged_at": _iso(a.acknowledged_at),
                "acknowledged_by": a.acknowledged_by,
            }
            for a in await alerts_for_client(session, client_id)
        ],
    }


def export_csv(exported: dict[str, Any]) -> str:
    """One row per answer, for a spreadsheet; the JSON export is the complete one."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for checkin in exported["checkins"]:
        for answer in checkin["answers"]:
            writer.writerow(
                {"checkin_id": checkin["id"], "slot": checkin["slot"], "status": checkin["status"]}
                | {k: answer[k] for k in EXPORT_FIELDS if k in answer}
            )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Erased:
    checkins: int
    answers: int
    alerts: int
    messages: int
    #: The client row itself went too (they are no longer in the config).
    client_removed: bool


async def forget_client(session: AsyncSession, client_id: str, *, keep_client: bool) -> Erased:
    """Erase a client's answers, check-ins, alerts, sessions, invites, messages and chat binding.

    ``keep_client`` leaves an emptied client row (with its config-owned fields) for a client who is still in
    the config, since the bot would otherwise add them back at its next start anyway; otherwise the row goes.
    Messages to the client at any address, the check-in summaries, alerts, notices and digests about or quoting
    them the coach was sent or is still waiting for, and the ids of the events they sent are deleted; other
    replies to the coach that named the client (a trend or the answers a coach asked for) are left to the
    retention purge.
    """
    client = await session.get(Client, client_id, with_for_update=True)
    if client is None:
        raise LookupError(client_id)
    checkin_ids = sa.select(CheckIn.id).where(CheckIn.client_id == client_id).scalar_subquery()
    alert_ids = [a.id for a in await alerts_for_client(session, client_id)]
    own_checkins = list((await session.scalars(sa.select(CheckIn.id).where(CheckIn.client_id == client_id))).all())
    answers = await _delete(session, sa.delete(Answer).where(Answer.checkin_id.in_(checkin_ids)))
    alerts = await _delete(session, sa.delete(Alert).where(Alert.client_id == client_id))
    checkins = await _delete(session, sa.delete(CheckIn).where(CheckIn.client_id == client_id))
    await _delete(session, sa.delete(CoachingSession).where(CoachingSession.client_id == client_id))
    await _delete(
        session,
        sa.delete(TelegramInvite).where(
            TelegramInvite.person_kind == PersonKind.CLIENT, TelegramInvite.person_id == client_id
        ),
    )
    # Key prefixes of what the coach was told about the client before messages named whom they are about.
    prefixes = (
        *(f"alert:{i}:" for i in alert_ids),
        *(f"summary:{i}:" for i in own_checkins),
        *(f"{notice}:{client_id}:" for notice in ("unreachable", "stopped", "resumed", "paused", "skipped_all")),
    )
    messages = await _forget_messages(session, client, prefixes)
    await forget_events_of(session, PersonKind.CLIENT, client_id)
    if keep_client:
        await forget_identities(session, PersonKind.CLIENT, client_id, "telegram")
        await session.execute(
            sa.update(Client)
            .where(Client.id == client_id)
            .values(
                paused_until=None,
                opted_out_at=None,
                privacy_notice_sent_at=None,
                unreachable_at=None,
                unreachable_reason=None,
                alerts_snoozed_until=None,
            )
        )
    else:
        await _delete(session, sa.delete(Goal).where(Goal.client_id == client_id))
        await forget_identities(session, PersonKind.CLIENT, client_id)
        await _delete(session, sa.delete(Client).where(Client.id == client_id))
    return Erased(checkins, answers, alerts, messages, client_removed=not keep_client)


async def _forget_messages(session: AsyncSession, client: Client, prefixes: Sequence[str]) -> int:
    """Delete the messages to the client (by person, whatever address they went to) and those to their coach
    that are about them or quote them, queued or waiting; returns how many went.

    Matching is exact (ids compared as values, keys by prefix in Python): an id is never made into a pattern,
    since ``_`` and ``%`` are wildcards in LIKE and ``a_b`` would match ``axb``.
    """
    addresses = addresses_of(client)
    to_client = sa.and_(OutboxMessage.person_kind == PersonKind.CLIENT, OutboxMessage.person_id == client.id)
    to_coach = sa.and_(OutboxMessage.person_kind == PersonKind.COACH, OutboxMessage.person_id == client.coach_id)
    rows = await session.execute(
        sa.select(
            OutboxMessage.id,
            OutboxMessage.platform,
            OutboxMessage.recipient,
            OutboxMessage.idempotency_key,
            OutboxMessage.payload,
            OutboxMessage.person_id,
        ).where(sa.or_(to_coach, OutboxMessage.person_id.is_(None)))
    )
    doomed = [
        row_id
        for row_id, platform, recipient, key, payload, person_id in rows
        if _is_about(client.id, key, payload, prefixes)
        or (person_id is None and address_key(platform, recipient) in addresses)
    ]
    count = await _delete(session, sa.delete(OutboxMessage).where(to_client))
    for chunk in chunks(doomed, 500):
        count += await _delete(session, sa.delete(OutboxMessage).where(OutboxMessage.id.in_(chunk)))
    waiting = await session.execute(
        sa.select(CoachWaiting.id, CoachWaiting.idempotency_key, CoachWaiting.payload).where(
            CoachWaiting.coach_id == client.coach_id, CoachWaiting.client_id.is_distinct_from(client.id)
        )
    )
    quoting = [row_id for row_id, key, payload in waiting if _is_about(client.id, key, payload, prefixes)]
    count += await _delete(session, sa.delete(CoachWaiting).where(CoachWaiting.client_id == client.id))
    if quoting:
        count += await _delete(session, sa.delete(CoachWaiting).where(CoachWaiting.id.in_(quoting)))
    return count


def _is_about(client_id: str, key: str, payload: dict[str, Any], prefixes: Sequence[str]) -> bool:
    about = payload.get(ABOUT)
    return (isinstance(about, list) and client_id in about) or key.startswith(tuple(prefixes))


@dataclass(frozen=True, slots=True)
class Purged:
    checkins: int
    answers: int
    alerts: int
    messages: int
    events: int
    invites: int

    @property
    def total(self) -> int:
        return self.checkins + self.answers + self.alerts + self.messages + self.events + self.invites


async def purge_older_than(session: AsyncSession, cutoff: datetime) -> Purged:
    """Delete what is older than ``cutoff``: closed check-ins with their answers, alerts, delivered, failed or
    cancelled messages, de-duplication records and spent invites. Open check-ins and pending messages stay."""
    old_checkins = sa.select(CheckIn.id).where(CheckIn.slot < cutoff, CheckIn.status.in_(CLOSED_CHECKIN_STATUSES))
    answers = await _delete(session, sa.delete(Answer).where(Answer.checkin_id.in_(old_checkins.scalar_subquery())))
    alerts = await _delete(session, sa.delete(Alert).where(Alert.created_at < cutoff))
    checkins = await _delete(session, sa.delete(CheckIn).where(CheckIn.id.in_(old_checkins.scalar_subquery())))
    messages = await _delete(
        session,
        sa.delete(OutboxMessage).where(
            OutboxMessage.created_at < cutoff, OutboxMessage.status.in_(SETTLED_OUTBOX_STATUSES)
        ),
    )
    events = await forget_processed_events(session, cutoff)
    invites = await _delete(session, sa.delete(TelegramInvite).where(TelegramInvite.expires_at < cutoff))
    return Purged(checkins, answers, alerts, messages, events, invites)


async def _delete(session: AsyncSession, statement: sa.Delete) -> int:
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return affected(result)


def _answer(answer: Answer) -> dict[str, Any]:
    return {
        "step_key": answer.step_key,
        "question_id": answer.question_id,
        "dimension": answer.dimension,
        "goal_id": answer.goal_id,
        "value": answer.value,
        "text": answer.text,
        "answered_at": _iso(answer.answered_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
