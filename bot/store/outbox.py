"""The outbox: messages queued in the transaction that caused them, leased to a sending worker, settled.

Outbox leasing uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never send the same row at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from bot.contract.statuses import UNSENT_OUTBOX_STATUSES, OutboxStatus, PersonKind
from bot.store.database import sealer_of
from bot.store.identities import address_key, addresses_of, people_at
from bot.store.models import CheckIn, Client, OutboxMessage
from bot.store.sealed import open_payload, seal_payload
from bot.store.sealing import KEY_ENV
from bot.store.statements import affected, chunks, on_postgresql, unnested

log = logging.getLogger(__name__)

#: Why an outbox row was not sent (``outbox.last_error``): cancelled by the client's ``stop``, unreadable, or
#: failed with an earlier one to the same recipient (``give_up``).
OPTED_OUT = "the client said stop before it was sent"
UNREADABLE = "its text was sealed with a key the configuration no longer holds"
UNREADABLE_HERE = "waiting for a process holding the key its text was sealed with"
#: How long a row sealed under a key this process lacks waits for one that holds it (another replica already
#: encrypting with a new key) before it fails: the outbox's default ``give_up_after``, so a lost key cannot
#: hold up the recipient's queue for longer than a failing platform could.
GIVE_UP_ON_UNREADABLE_AFTER = timedelta(hours=24)
#: When such a row is due again, for this process or any other.
UNREADABLE_RETRY = timedelta(minutes=5)
OUTRUN = "not sent: an earlier message to the same recipient failed"
#: The payload key listing the clients a coach's message is about (an alert, a summary, a digest quoting them).
ABOUT = "about"


#: The person a message is for: what ``stop`` and ``forget`` look rows up by, whatever their address.
PersonRef = tuple[PersonKind, str]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    platform: str
    recipient: str
    payload: dict[str, Any]
    idempotency_key: str
    person: PersonRef | None = None
    #: Not sent before this (a message whose image is still being drawn); ``None``: as soon as it is queued.
    not_before: datetime | None = None


def _unsent(table: Any) -> sa.ColumnElement[bool]:
    """``status IN ('pending', 'sending')`` with the statuses written into the SQL, not bound: only then can
    either database's planner see that the partial index of unsent rows (``ix_outbox_unsent_recipient``)
    holds every row the condition can match."""
    condition: sa.ColumnElement[bool] = table.status.in_(
        [sa.literal_column(f"'{status.value}'") for status in UNSENT_OUTBOX_STATUSES]
    )
    return condition


_outbox = cast(sa.Table, OutboxMessage.__table__)


async def enqueue(session: AsyncSession, rows: Sequence[OutboxRow], now: datetime) -> int:
    """Queue messages for the outbox worker in order; a key queued before (a retried cause) is skipped.

    Returns how many rows were new. Rows are inserted in the order given, so ids, and with them the
    per-recipient sending order, follow it.
    """
    if not rows:
        return 0
    sealer = sealer_of(session)
    payloads = [seal_payload(sealer, r.payload) for r in rows]
    if on_postgresql(session):
        return len((await session.execute(_ENQUEUE_FROM_ARRAYS, _enqueue_arrays(rows, payloads, now))).all())
    values = [
        {
            "platform": r.platform,
            "recipient": r.recipient,
            "payload": payload,
            "idempotency_key": r.idempotency_key,
            "person_kind": r.person[0] if r.person is not None else None,
            "person_id": r.person[1] if r.person is not None else None,
            "next_attempt_at": r.not_before or now,
            "created_at": now,
        }
        for r, payload in zip(rows, payloads, strict=True)
    ]
    queued = 0
    for chunk in chunks(values, 500):
        # insertmanyvalues keeps the rows' order within a batch, and batches follow each other, so ids do too.
        result = await session.execute(_ENQUEUE_SQLITE.execution_options(insertmanyvalues_page_size=500), list(chunk))
        queued += len(result.all())
    return queued


def _enqueue_arrays(rows: Sequence[OutboxRow], payloads: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "platform": [r.platform for r in rows],
        "recipient": [r.recipient for r in rows],
        "payload": [json.dumps(payload) for payload in payloads],
        "idempotency_key": [r.idempotency_key for r in rows],
        "person_kind": [r.person[0] if r.person is not None else None for r in rows],
        "person_id": [r.person[1] if r.person is not None else None for r in rows],
        "next_attempt_at": [r.not_before or now for r in rows],
        "now": now,
    }


def _enqueue_from_arrays() -> Any:
    """``enqueue``'s INSERT on PostgreSQL: the rows as arrays (``statements.unnested``), inserted in the arrays'
    order, so their ids follow it as they do the rows' order on SQLite."""
    columns = ("platform", "recipient", "payload", "idempotency_key", "person_kind", "person_id", "next_attempt_at")
    # The payload arrives as JSON text; the server parses it as it casts it.
    types = {c: sa.Text() if c == "payload" else _outbox.c[c].type for c in columns}
    queued = unnested("queued", types, numbered="number")
    rows = sa.select(
        *(sa.cast(queued.c[c], postgresql.JSONB) if c == "payload" else queued.c[c] for c in columns),
        sa.bindparam("now", type_=_outbox.c.created_at.type),
        sa.bindparam("status", OutboxStatus.PENDING, type_=_outbox.c.status.type),
        sa.bindparam("attempts", 0, type_=sa.Integer()),
    ).order_by(queued.c.number)
    return (
        postgresql.insert(_outbox)
        .from_select([*columns, "created_at", "status", "attempts"], rows)
        .on_conflict_do_nothing(index_elements=[_outbox.c.idempotency_key])
        .returning(_outbox.c.id)
    )


_ENQUEUE_FROM_ARRAYS = _enqueue_from_arrays()
#: ``enqueue``'s INSERT on SQLite: an executemany of plain tuples, so a batch costs one compiled statement.
_ENQUEUE_SQLITE = (
    sqlite.insert(_outbox)
    .values(status=OutboxStatus.PENDING, attempts=0)
    .on_conflict_do_nothing(index_elements=[_outbox.c.idempotency_key])
    .returning(_outbox.c.id)
)


async def release_held(session: AsyncSession, idempotency_key: str, extra: dict[str, Any], now: datetime) -> bool:
    """Add ``extra`` to a held row's payload (an image drawn after its commit) and let it go now.

    Only a row not yet attempted changes: one whose hold ran out and that went without the addition stays as
    it went. False when there was no such row (it waits for its coach instead, or went already).
    """
    row = (
        await session.execute(
            sa.select(_outbox.c.id, _outbox.c.payload)
            .where(
                _outbox.c.idempotency_key == idempotency_key,
                _outbox.c.status == OutboxStatus.PENDING,
                _outbox.c.attempts == 0,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        return False
    await session.execute(
        sa.update(_outbox).where(_outbox.c.id == row.id).values(payload={**row.payload, **extra}, next_attempt_at=now)
    )
    return True


async def due_outbox(
    session: AsyncSession,
    now: datetime,
    limit: int,
    worker_id: str,
    lease: timedelta,
    *,
    give_up_unreadable_after: timedelta = GIVE_UP_ON_UNREADABLE_AFTER,
) -> list[OutboxMessage]:
    """Lease up to ``limit`` sendable messages to this worker, oldest first, their text opened.

    Sendable means pending and due, or stuck in ``sending`` past its lease (its worker died), and first
    in line for its recipient: a message never overtakes an earlier unsent one to the same person, so a
    question cannot arrive before the greeting that failed and is waiting for its retry. Each lease
    counts as an attempt. Rows another worker is leasing right now are skipped, not waited for.

    Two kinds of row are settled here instead of handed over. A message to a client queued before they said
    ``stop`` is cancelled (``stop`` is honoured at once, even for a reminder already queued; the reply
    confirming the stop is queued with it and still goes). Settling a row unblocks the one queued behind it, so
    leasing repeats until it finds a row to send or none was settled.

    A message whose text no configured key opens is not this process's to judge: another replica may already
    seal with a key this one was not given yet. It goes back to pending for ``UNREADABLE_RETRY``, its attempt
    not counted, and is reported (ERROR, by row id); only once it is ``give_up_unreadable_after`` old does it
    fail, so a key lost for good holds up its recipient's queue no longer than a failing platform would.
    """
    sealer = sealer_of(session)
    while True:
        leased = await _lease_outbox(session, now, limit, worker_id, lease)
        to_clients = [r for r in leased if r.payload.get("audience") == "client"]
        stopped = await _opted_out_at(session, [r for r in to_clients if r.person_id is None])
        stopped_people = await _people_opted_out_at(session, [r for r in to_clients if r.person_id is not None])
        sendable: list[OutboxMessage] = []
        cancelled: list[int] = []
        unreadable: list[int] = []
        held: list[int] = []
        for row in leased:
            opted_out = (
                stopped.get(address_key(row.platform, row.recipient))
                if row.person_id is None
                else stopped_people.get(row.person_id)
            )
            if row.payload.get("audience") == "client" and opted_out is not None and row.created_at < opted_out:
                cancelled.append(row.id)
            elif (payload := open_payload(sealer, row.payload, f"outbox row {row.id}")) is None:
                if now - row.created_at < give_up_unreadable_after:
                    log.error(
                        "outbox row %d was sealed with a key %s here does not hold; left pending for a process "
                        "that holds it (add the key to every replica)",
                        row.id,
                        KEY_ENV,
                    )
                    held.append(row.id)
                else:
                    unreadable.append(row.id)
            else:
                set_committed_value(row, "payload", payload)
                sendable.append(row)
        await _settle(session, cancelled, status=OutboxStatus.CANCELLED, last_error=OPTED_OUT)
        await _settle(session, unreadable, status=OutboxStatus.FAILED, last_error=UNREADABLE)
        await _settle(
            session,
            held,
            status=OutboxStatus.PENDING,
            last_error=UNREADABLE_HERE,
            next_attempt_at=now + UNREADABLE_RETRY,
            attempts=OutboxMessage.attempts - 1,
        )
        if sendable or not (cancelled or unreadable):
            return sendable


async def _settle(session: AsyncSession, outbox_ids: Sequence[int], **values: Any) -> None:
    if outbox_ids:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(outbox_ids))
            .values(lease_until=None, leased_by=None, **values)
            .execution_options(synchronize_session=False)
        )


async def _people_opted_out_at(session: AsyncSession, rows: Sequence[OutboxMessage]) -> dict[str, datetime]:
    """When the clients these rows are for said ``stop``, by client id, for those who did, in one query."""
    wanted = {r.person_id for r in rows if r.person_kind == PersonKind.CLIENT}
    if not wanted:
        return {}
    stopped = await session.execute(
        sa.select(Client.id, Client.opted_out_at).where(Client.id.in_(wanted), Client.opted_out_at.is_not(None))
    )
    return {client_id: at for client_id, at in stopped if at is not None}


async def _opted_out_at(session: AsyncSession, rows: Sequence[OutboxMessage]) -> dict[tuple[str, str], datetime]:
    """When the clients behind these rows' addresses said ``stop``, for rows queued before the outbox named the
    person (migration 0007 names them where it could), in one query."""
    wanted = {address_key(r.platform, r.recipient) for r in rows}
    if not wanted:
        return {}
    reached = sa.or_(
        Client.id.in_([r for p, r in wanted if p == "console"]),
        Client.id.in_(people_at(PersonKind.CLIENT, wanted)),
    )
    clients = await session.scalars(sa.select(Client).where(Client.opted_out_at.is_not(None), reached))
    return {
        address: client.opted_out_at
        for client in clients
        if client.opted_out_at is not None
        for address in addresses_of(client) & wanted
    }


def _lease_statement() -> Any:
    """The lease, built once: pending and due rows (or leased ones whose lease ran out), oldest first, each
    the first unsent message to its recipient.

    "First unsent to its recipient" is one probe per candidate into the partial index of unsent rows by
    (platform, recipient, id), so its cost does not grow with the recipient's sent history or with the rest
    of the queue. Candidates come in id order from the partial index of unsent rows, so a lease reads about
    as many rows as it hands out plus those waiting behind rows still in flight, never the sent history.
    """
    earlier = aliased(OutboxMessage)
    now: sa.BindParameter[datetime] = sa.bindparam("now")
    # A scalar subquery, not NOT EXISTS: PostgreSQL turns NOT EXISTS into an anti-join that compares every
    # pair of one recipient's unsent rows (seconds for a coach with a long queue); min() is one index probe.
    first_unsent = (
        sa.select(sa.func.min(earlier.id))
        .where(
            earlier.platform == OutboxMessage.platform,
            earlier.recipient == OutboxMessage.recipient,
            _unsent(earlier),
        )
        .correlate(OutboxMessage)
        .scalar_subquery()
    )
    due = (
        sa.select(OutboxMessage.id)
        .where(
            _unsent(OutboxMessage),
            sa.or_(
                sa.and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
                sa.and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until <= now),
            ),
            OutboxMessage.id == first_unsent,
        )
        .order_by(OutboxMessage.id)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True)
    )
    return (
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(
            status=OutboxStatus.SENDING,
            lease_until=sa.bindparam("until"),
            leased_by=sa.bindparam("worker_id"),
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


_LEASE = _lease_statement()


async def _lease_outbox(
    session: AsyncSession, now: datetime, limit: int, worker_id: str, lease: timedelta
) -> list[OutboxMessage]:
    leased = await session.scalars(_LEASE, {"now": now, "limit": limit, "until": now + lease, "worker_id": worker_id})
    return sorted(leased.all(), key=lambda message: message.id)


async def _finish_sending(session: AsyncSession, outbox_id: int, **values: Any) -> bool:
    # Only a row still in "sending" may be settled: a late worker must not undo another's outcome.
    updated = await session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.SENDING)
        .values(lease_until=None, leased_by=None, **values)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return updated.first() is not None


async def mark_sent(session: AsyncSession, sent: Sequence[tuple[int, str | None]], now: datetime) -> int:
    """Record deliveries as (outbox id, platform reference) pairs in one statement; returns how many settled.

    One statement for a whole batch: recording each delivery in a transaction of its own would make the
    database's commit rate the ceiling on sending.
    """
    if not sent:
        return 0
    table = OutboxMessage.__table__
    assert isinstance(table, sa.Table)
    result = await session.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"), table.c.status == OutboxStatus.SENDING)
        .values(
            status=OutboxStatus.SENT, platform_ref=sa.bindparam("ref"), sent_at=now, lease_until=None, leased_by=None
        ),
        [{"row_id": outbox_id, "ref": ref} for outbox_id, ref in sent],
    )
    return affected(result)


async def mark_retry(
    session: AsyncSession, outbox_id: int, error: str, next_attempt_at: datetime, *, counted: bool = True
) -> bool:
    """Put a row back to be sent at ``next_attempt_at``; ``counted=False`` takes back the attempt its lease
    counted (the platform asked us to wait, or our own rate limit did: nothing failed)."""
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "last_error": error,
        "next_attempt_at": next_attempt_at,
    }
    if not counted:
        values["attempts"] = OutboxMessage.attempts - 1
    return await _finish_sending(session, outbox_id, **values)


async def mark_failed(session: AsyncSession, outbox_id: int, error: str) -> bool:
    return await _finish_sending(session, outbox_id, status=OutboxStatus.FAILED, last_error=error)


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A message the outbox will not send: the one that failed, or one that was queued behind it."""

    outbox_id: int
    checkin_id: int | None
    audience: str
    #: The id of the person it was for, where the row names them.
    person_id: str | None = None


async def give_up(session: AsyncSession, outbox_id: int, error: str, now: datetime) -> list[GivenUp]:
    """Fail a row being sent and every unsent row queued behind it to the same recipient; mark their check-ins.

    The rows behind fail with it so that none of them overtakes it: a greeting and a question must not reach a
    client whose privacy notice never did. A client's check-in among them is marked undelivered for the coach
    and ``checkin status``. Empty when the row was no longer being sent (another worker settled it).
    """
    if not await mark_failed(session, outbox_id, error):
        return []
    failed = await session.get(OutboxMessage, outbox_id, populate_existing=True)
    assert failed is not None
    behind = await session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.platform == failed.platform,
            OutboxMessage.recipient == failed.recipient,
            OutboxMessage.id > outbox_id,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.FAILED, last_error=f"{OUTRUN}: {error}", lease_until=None, leased_by=None)
        .returning(OutboxMessage.id, OutboxMessage.payload)
        .execution_options(synchronize_session=False)
    )
    given_up = [
        GivenUp(row_id, payload.get("checkin_id"), str(payload.get("audience", "client")), failed.person_id)
        for row_id, payload in [(failed.id, failed.payload), *sorted((row.id, row.payload) for row in behind)]
    ]
    undelivered = {g.checkin_id for g in given_up if g.audience == "client" and g.checkin_id is not None}
    if undelivered:
        await session.execute(
            sa.update(CheckIn)
            .where(CheckIn.id.in_(undelivered), CheckIn.undelivered_at.is_(None))
            .values(undelivered_at=now, undelivered_reason=error)
            .execution_options(synchronize_session=False)
        )
    return given_up


async def renew_leases(session: AsyncSession, outbox_ids: Collection[int], worker_id: str, until: datetime) -> int:
    """Extend this worker's leases on rows it is still sending, so no other worker takes them over meanwhile."""
    if not outbox_ids:
        return 0
    result = await session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(outbox_ids),
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.leased_by == worker_id,
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def readdress(session: AsyncSession, person: PersonRef, platform: str, old: str, new: str) -> int:
    """Point a person's messages still waiting for ``old`` at ``new``: their chat moved (a Telegram re-bind), and
    what was queued for them must not go to a chat that may now be someone else's. A message being sent
    (``sending``) is already on its way and is left as it is. Returns how many moved."""
    moved = await session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.platform == platform,
            OutboxMessage.recipient == old,
            OutboxMessage.person_kind == person[0],
            OutboxMessage.person_id == person[1],
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(recipient=new)
        .execution_options(synchronize_session=False)
    )
    return affected(moved)


async def outbox_row(session: AsyncSession, idempotency_key: str) -> OutboxMessage | None:
    """The outbox row queued under a key, to send its message again; a text no key opens reads as empty."""
    row = await session.scalar(
        sa.select(OutboxMessage)
        .where(OutboxMessage.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    )
    if row is not None:
        opened = open_payload(sealer_of(session), row.payload, f"outbox row {row.id}")
        set_committed_value(row, "payload", opened if opened is not None else {**row.payload, "text": ""})
    return row


async def unsent_count(session: AsyncSession) -> int:
    """Messages not yet sent (pending or being sent), across every replica: the outbox depth."""
    query = (
        sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.status.in_(UNSENT_OUTBOX_STATUSES))
    )
    return int(await session.scalar(query) or 0)
