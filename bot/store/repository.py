"""The queries the runtime needs, each taking the caller's ``AsyncSession``.

The caller owns the transaction so a state change and the outbox rows it causes commit together
(DESIGN §6). Races between replicas are settled by the database, not by Python: claims, dedup and
upserts use ``INSERT ... ON CONFLICT`` (which leaves the transaction usable, unlike catching an
IntegrityError), and outbox leasing uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from bot.store.database import sealer_of
from bot.store.models import (
    Alert,
    Answer,
    CheckIn,
    Client,
    Coach,
    CoachingSession,
    Goal,
    OutboxMessage,
    PersonKind,
    ProcessedEvent,
    TelegramInvite,
)
from bot.store.sealed import open_payload, open_signals, open_text, seal_payload, seal_signals

OPEN_CHECKIN_STATUSES = ("sent", "in_progress")

#: Why an outbox row was not sent (``outbox.last_error``): cancelled by the client's ``stop``, unreadable, or
#: failed with an earlier one to the same recipient (``give_up``).
OPTED_OUT = "the client said stop before it was sent"
UNREADABLE = "its text was sealed with a key the configuration no longer holds"
OUTRUN = "not sent: an earlier message to the same recipient failed"


@dataclass(frozen=True, slots=True)
class CoachRecord:
    """A coach as config declares them; the runtime builds these so the store needs no config import."""

    id: str
    name: str
    timezone: str
    digest: str
    slack_user_id: str | None = None
    slack_email: str | None = None


@dataclass(frozen=True, slots=True)
class GoalRecord:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client as config declares them. ``paused_until`` is applied only when given, so a pause the
    client set themselves survives a reload of a config that says nothing about it."""

    id: str
    name: str
    coach_id: str
    timezone: str
    cadence: str
    question_set: str
    language: str
    platform: str
    slack_user_id: str | None = None
    slack_email: str | None = None
    paused_until: datetime | None = None
    goals: Sequence[GoalRecord] = ()


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a config sync changed, for the reload log line."""

    added_coaches: list[str] = field(default_factory=list)
    deactivated_coaches: list[str] = field(default_factory=list)
    added_clients: list[str] = field(default_factory=list)
    deactivated_clients: list[str] = field(default_factory=list)


def _insert(session: AsyncSession, entity: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which is the one that knows ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def _changed(table: sa.Table, excluded: Any, columns: Sequence[str]) -> sa.ColumnElement[bool]:
    """True when an upsert would change a column, so unchanged rows keep their updated_at."""
    return sa.or_(*(table.c[name].is_distinct_from(excluded[name]) for name in columns))


async def sync_people(
    session: AsyncSession,
    coaches: Sequence[CoachRecord],
    clients: Sequence[ClientRecord],
    now: datetime,
) -> SyncResult:
    """Make the people tables match config without losing history.

    Rows are upserted in id order (so replicas syncing at once lock in the same order and cannot
    deadlock); people and goals missing from config become inactive, never deleted. Runtime-owned
    columns (Telegram binding, opt-out, privacy notice, a self-set pause) are not written.
    """
    known_coaches = dict((await session.execute(sa.select(Coach.id, Coach.active))).all())
    known_clients = dict((await session.execute(sa.select(Client.id, Client.active))).all())
    declared_coaches = {c.id for c in coaches}
    declared_clients = {c.id for c in clients}

    coach_rows = [
        {
            "id": c.id,
            "name": c.name,
            "timezone": c.timezone,
            "slack_user_id": c.slack_user_id,
            "slack_email": c.slack_email,
            "digest": c.digest,
            "active": True,
            "updated_at": now,
        }
        for c in sorted(coaches, key=lambda c: c.id)
    ]
    if coach_rows:
        stmt = _insert(session, Coach)
        synced = ["name", "timezone", "slack_user_id", "slack_email", "digest", "active"]
        coach_table = Coach.__table__
        assert isinstance(coach_table, sa.Table)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Coach.id],
                set_={name: stmt.excluded[name] for name in [*synced, "updated_at"]},
                where=_changed(coach_table, stmt.excluded, synced),
            ),
            coach_rows,
        )

    client_rows = [
        {
            "id": c.id,
            "name": c.name,
            "coach_id": c.coach_id,
            "timezone": c.timezone,
            "cadence": c.cadence,
            "question_set": c.question_set,
            "language": c.language,
            "platform": c.platform,
            "slack_user_id": c.slack_user_id,
            "slack_email": c.slack_email,
            "paused_until": c.paused_until,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for c in sorted(clients, key=lambda c: c.id)
    ]
    if client_rows:
        stmt = _insert(session, Client)
        client_table = Client.__table__
        assert isinstance(client_table, sa.Table)
        synced = [
            "name",
            "coach_id",
            "timezone",
            "cadence",
            "question_set",
            "language",
            "platform",
            "slack_user_id",
            "slack_email",
            "active",
        ]
        paused_until = sa.func.coalesce(stmt.excluded.paused_until, client_table.c.paused_until)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Client.id],
                set_={
                    **{name: stmt.excluded[name] for name in [*synced, "updated_at"]},
                    "paused_until": paused_until,
                },
                where=sa.or_(
                    _changed(client_table, stmt.excluded, synced),
                    client_table.c.paused_until.is_distinct_from(paused_until),
                ),
            ),
            client_rows,
        )

    # Every goal goes inactive and the declared ones come back in the upsert below; inside one
    # transaction nobody sees the gap, and it needs no parameter per goal.
    await session.execute(sa.update(Goal).where(Goal.active).values(active=False))
    goal_rows = [
        {"client_id": c.id, "id": g.id, "title": g.title, "active": True, "position": position}
        for c in sorted(clients, key=lambda c: c.id)
        for position, g in enumerate(c.goals)
    ]
    if goal_rows:
        stmt = _insert(session, Goal)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Goal.client_id, Goal.id],
                set_={name: stmt.excluded[name] for name in ("title", "active", "position")},
            ),
            goal_rows,
        )

    removed_clients = sorted(i for i, active in known_clients.items() if active and i not in declared_clients)
    if removed_clients:
        await session.execute(
            sa.update(Client).where(Client.id.in_(removed_clients)).values(active=False, updated_at=now)
        )
    removed_coaches = sorted(i for i, active in known_coaches.items() if active and i not in declared_coaches)
    if removed_coaches:
        await session.execute(
            sa.update(Coach).where(Coach.id.in_(removed_coaches)).values(active=False, updated_at=now)
        )
    return SyncResult(
        added_coaches=sorted(declared_coaches - known_coaches.keys()),
        deactivated_coaches=removed_coaches,
        added_clients=sorted(declared_clients - known_clients.keys()),
        deactivated_clients=removed_clients,
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


@dataclass(frozen=True, slots=True)
class Claim:
    """A check-in to start: the slot it belongs to and the conversation state it opens with."""

    client_id: str
    slot: datetime
    question_set: str
    state: dict[str, Any]


async def claim_checkins(session: AsyncSession, claims: Sequence[Claim], now: datetime) -> dict[str, int]:
    """Insert check-ins for their (client, slot); return client id -> check-in id for the claims won.

    The unique (client, slot) makes this the dispatch idempotency key: a claim someone else (another
    replica, an earlier pass) already made is silently not returned, and the transaction stays usable.
    Claimed check-ins start as ``sent`` because their opening messages go into the outbox in the same
    transaction.
    """
    won: dict[str, int] = {}
    for chunk in _chunks(claims, 500):
        rows = [
            {
                "client_id": c.client_id,
                "slot": c.slot,
                "status": "sent",
                "question_set": c.question_set,
                "state": c.state,
                "created_at": now,
                "sent_at": now,
                "last_activity_at": now,
                "reminders_sent": 0,
            }
            for c in chunk
        ]
        stmt = (
            _insert(session, CheckIn)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[CheckIn.client_id, CheckIn.slot])
            .returning(CheckIn.client_id, CheckIn.id)
        )
        won.update({client_id: checkin_id for client_id, checkin_id in await session.execute(stmt)})
    return won


async def expire_superseded(session: AsyncSession, newest: dict[str, int]) -> None:
    """Close the still-open check-ins of these clients other than their newest: a new slot replaces them."""
    if newest:
        await session.execute(
            sa.update(CheckIn)
            .where(
                CheckIn.client_id.in_(newest),
                CheckIn.status.in_(OPEN_CHECKIN_STATUSES),
                CheckIn.id.not_in(newest.values()),
            )
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def open_checkin_for_update(session: AsyncSession, client_id: str) -> CheckIn | None:
    """The client's newest check-in awaiting answers, row-locked so concurrent replies apply in turn."""
    query = (
        sa.select(CheckIn)
        .where(CheckIn.client_id == client_id, CheckIn.status.in_(OPEN_CHECKIN_STATUSES))
        .order_by(CheckIn.slot.desc(), CheckIn.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def upsert_answer(
    session: AsyncSession,
    checkin_id: int,
    step_key: str,
    question_id: str,
    dimension: str,
    goal_id: str | None,
    value: int | None,
    text: str | None,
    answered_at: datetime,
) -> Answer:
    """Record the answer to one step, replacing an earlier answer to the same step; its text is sealed."""
    stored = sealer_of(session).seal(text) if text is not None else None
    stmt = _insert(session, Answer).values(
        checkin_id=checkin_id,
        step_key=step_key,
        question_id=question_id,
        dimension=dimension,
        goal_id=goal_id,
        value=value,
        text=stored,
        answered_at=answered_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Answer.checkin_id, Answer.step_key],
        set_={
            name: stmt.excluded[name]
            for name in ("question_id", "dimension", "goal_id", "value", "text", "answered_at")
        },
    )
    result = await session.scalars(
        stmt.returning(Answer).execution_options(populate_existing=True),
    )
    answer = result.one()
    set_committed_value(answer, "text", text)
    return answer


async def delete_answer(session: AsyncSession, checkin_id: int, step_key: str) -> bool:
    """Forget the answer to one step (the client went back); False when there was none."""
    deleted = await session.scalars(
        sa.delete(Answer).where(Answer.checkin_id == checkin_id, Answer.step_key == step_key).returning(Answer.id)
    )
    return deleted.first() is not None


async def answers_for(session: AsyncSession, checkin_id: int) -> list[Answer]:
    """A check-in's answers with their text opened (``None`` where no configured key opens it)."""
    query = sa.select(Answer).where(Answer.checkin_id == checkin_id).order_by(Answer.answered_at, Answer.id)
    answers = list((await session.scalars(query.execution_options(populate_existing=True))).all())
    sealer = sealer_of(session)
    for answer in answers:
        # Committed, not assigned: the session must not write the opened text back.
        set_committed_value(answer, "text", open_text(sealer, answer.text, f"answer {answer.id}"))
    return answers


@dataclass(frozen=True, slots=True)
class OutboxRow:
    platform: str
    recipient: str
    payload: dict[str, Any]
    idempotency_key: str


async def enqueue(session: AsyncSession, rows: Sequence[OutboxRow], now: datetime) -> int:
    """Queue messages for the outbox worker in order; a key queued before (a retried cause) is skipped.

    Returns how many rows were new. Rows are inserted in the order given, so ids, and with them the
    per-recipient sending order, follow it.
    """
    queued = 0
    sealer = sealer_of(session)
    for chunk in _chunks(rows, 500):
        values = [
            {
                "platform": r.platform,
                "recipient": r.recipient,
                "payload": seal_payload(sealer, r.payload),
                "idempotency_key": r.idempotency_key,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for r in chunk
        ]
        stmt = (
            _insert(session, OutboxMessage)
            .values(values)
            .on_conflict_do_nothing(index_elements=[OutboxMessage.idempotency_key])
            .returning(OutboxMessage.id)
        )
        queued += len((await session.execute(stmt)).all())
    return queued


async def due_outbox(
    session: AsyncSession, now: datetime, limit: int, worker_id: str, lease: timedelta
) -> list[OutboxMessage]:
    """Lease up to ``limit`` sendable messages to this worker, oldest first, their text opened.

    Sendable means pending and due, or stuck in ``sending`` past its lease (its worker died), and first
    in line for its recipient: a message never overtakes an earlier unsent one to the same person, so a
    question cannot arrive before the greeting that failed and is waiting for its retry. Each lease
    counts as an attempt. Rows another worker is leasing right now are skipped, not waited for.

    Two kinds of row are settled here instead of handed over. A message to a client queued before they said
    ``stop`` is cancelled (``stop`` is honoured at once, even for a reminder already queued; the reply
    confirming the stop is queued with it and still goes). A message whose text no configured key opens
    fails. Settling a row unblocks the one queued behind it, so leasing repeats until it finds a row to send
    or none was settled.
    """
    sealer = sealer_of(session)
    while True:
        leased = await _lease_outbox(session, now, limit, worker_id, lease)
        stopped = await _opted_out_at(session, [r for r in leased if r.payload.get("audience") == "client"])
        sendable: list[OutboxMessage] = []
        cancelled: list[int] = []
        unreadable: list[int] = []
        for row in leased:
            opted_out = stopped.get(_address_key(row.platform, row.recipient))
            if row.payload.get("audience") == "client" and opted_out is not None and row.created_at < opted_out:
                cancelled.append(row.id)
            elif (payload := open_payload(sealer, row.payload, f"outbox row {row.id}")) is None:
                unreadable.append(row.id)
            else:
                set_committed_value(row, "payload", payload)
                sendable.append(row)
        await _settle(session, cancelled, status="cancelled", last_error=OPTED_OUT)
        await _settle(session, unreadable, status="failed", last_error=UNREADABLE)
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


def _address_key(platform: str, recipient: str) -> tuple[str, str]:
    # Slack e-mail addresses match whatever their case, as in ``_identity_clause``.
    return (platform, recipient.lower() if recipient.startswith("email:") else recipient)


def _addresses(client: Client) -> set[tuple[str, str]]:
    """Every address a message to this client may have been queued under (``people.address_of``, the console)."""
    addresses = {("console", client.id)}
    if client.slack_user_id:
        addresses.add(("slack", client.slack_user_id))
    if client.slack_email:
        addresses.add(_address_key("slack", f"email:{client.slack_email}"))
    if client.telegram_chat_id is not None:
        addresses.add(("telegram", str(client.telegram_chat_id)))
    return addresses


async def _opted_out_at(session: AsyncSession, rows: Sequence[OutboxMessage]) -> dict[tuple[str, str], datetime]:
    """When the clients behind these rows' addresses said ``stop``, for those who did, in one query."""
    wanted = {_address_key(r.platform, r.recipient) for r in rows}
    chats = [int(r) for p, r in wanted if p == "telegram" and r.lstrip("-").isdigit()]
    matches = [
        Client.id.in_([r for p, r in wanted if p == "console"]),
        Client.slack_user_id.in_([r for p, r in wanted if p == "slack" and not r.startswith("email:")]),
        sa.func.lower(Client.slack_email).in_([r.removeprefix("email:") for p, r in wanted if r.startswith("email:")]),
        Client.telegram_chat_id.in_(chats),
    ]
    if not wanted:
        return {}
    clients = await session.scalars(sa.select(Client).where(Client.opted_out_at.is_not(None), sa.or_(*matches)))
    return {
        address: client.opted_out_at
        for client in clients
        if client.opted_out_at is not None
        for address in _addresses(client) & wanted
    }


async def _lease_outbox(
    session: AsyncSession, now: datetime, limit: int, worker_id: str, lease: timedelta
) -> list[OutboxMessage]:
    earlier = aliased(OutboxMessage)
    queued_behind = (
        sa.exists()
        .where(
            earlier.platform == OutboxMessage.platform,
            earlier.recipient == OutboxMessage.recipient,
            earlier.id < OutboxMessage.id,
            earlier.status.in_(("pending", "sending")),
        )
        .correlate(OutboxMessage)
    )
    due = (
        sa.select(OutboxMessage.id)
        .where(
            sa.or_(
                sa.and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                sa.and_(OutboxMessage.status == "sending", OutboxMessage.lease_until <= now),
            ),
            ~queued_behind,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    leased = await session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            lease_until=now + lease,
            leased_by=worker_id,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return sorted(leased.all(), key=lambda message: message.id)


async def _finish_sending(session: AsyncSession, outbox_id: int, **values: Any) -> bool:
    # Only a row still in "sending" may be settled: a late worker must not undo another's outcome.
    updated = await session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "sending")
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
        .where(table.c.id == sa.bindparam("row_id"), table.c.status == "sending")
        .values(status="sent", platform_ref=sa.bindparam("ref"), sent_at=now, lease_until=None, leased_by=None),
        [{"row_id": outbox_id, "ref": ref} for outbox_id, ref in sent],
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_retry(
    session: AsyncSession, outbox_id: int, error: str, next_attempt_at: datetime, *, counted: bool = True
) -> bool:
    """Put a row back to be sent at ``next_attempt_at``; ``counted=False`` takes back the attempt its lease
    counted (the platform asked us to wait, or our own rate limit did: nothing failed)."""
    values: dict[str, Any] = {"status": "pending", "last_error": error, "next_attempt_at": next_attempt_at}
    if not counted:
        values["attempts"] = OutboxMessage.attempts - 1
    return await _finish_sending(session, outbox_id, **values)


async def mark_failed(session: AsyncSession, outbox_id: int, error: str) -> bool:
    return await _finish_sending(session, outbox_id, status="failed", last_error=error)


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A message the outbox will not send: the one that failed, or one that was queued behind it."""

    outbox_id: int
    checkin_id: int | None
    audience: str


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
            OutboxMessage.status == "pending",
        )
        .values(status="failed", last_error=f"{OUTRUN}: {error}", lease_until=None, leased_by=None)
        .returning(OutboxMessage.id, OutboxMessage.payload)
        .execution_options(synchronize_session=False)
    )
    given_up = [
        GivenUp(row_id, payload.get("checkin_id"), str(payload.get("audience", "client")))
        for row_id, payload in [(failed.id, failed.payload), *sorted((row.id, row.payload) for row in behind)]
    ]
    checkins = {g.checkin_id for g in given_up if g.audience == "client" and g.checkin_id is not None}
    if checkins:
        await session.execute(
            sa.update(CheckIn)
            .where(CheckIn.id.in_(checkins), CheckIn.undelivered_at.is_(None))
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
            OutboxMessage.status == "sending",
            OutboxMessage.leased_by == worker_id,
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def remember_event(session: AsyncSession, platform: str, event_key: str, now: datetime) -> bool:
    """Record an inbound event; True the first time it is seen, False for a redelivery."""
    stmt = (
        _insert(session, ProcessedEvent)
        .values(platform=platform, event_key=event_key, seen_at=now)
        .on_conflict_do_nothing(index_elements=[ProcessedEvent.platform, ProcessedEvent.event_key])
        .returning(ProcessedEvent.event_key)
    )
    return (await session.scalars(stmt)).first() is not None


async def create_alert(
    session: AsyncSession,
    client_id: str,
    checkin_id: int | None,
    severity: str,
    signals: list[dict[str, Any]],
    now: datetime,
) -> Alert:
    """Store an alert with its signals' reasons sealed (a ``words`` reason quotes the client)."""
    sealed = seal_signals(sealer_of(session), signals)
    alert = Alert(client_id=client_id, checkin_id=checkin_id, severity=severity, signals=sealed, created_at=now)
    session.add(alert)
    await session.flush()
    set_committed_value(alert, "signals", [dict(s) for s in signals])
    return alert


async def _alerts(session: AsyncSession, query: sa.Select[Alert]) -> list[Alert]:
    """Alerts with their signals opened; freshly loaded, so a value is never opened twice."""
    alerts = list((await session.scalars(query.execution_options(populate_existing=True))).all())
    sealer = sealer_of(session)
    for alert in alerts:
        set_committed_value(alert, "signals", open_signals(sealer, alert.signals, f"alert {alert.id}"))
    return alerts


async def alerts_for_client(session: AsyncSession, client_id: str) -> list[Alert]:
    return await _alerts(
        session, sa.select(Alert).where(Alert.client_id == client_id).order_by(Alert.created_at, Alert.id)
    )


async def alerts_for_checkin(session: AsyncSession, checkin_id: int) -> list[Alert]:
    return await _alerts(session, sa.select(Alert).where(Alert.checkin_id == checkin_id).order_by(Alert.id))


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
    person: type[Client] | type[Coach] = Client if invite.person_kind == "client" else Coach
    await session.execute(sa.update(person).where(person.id == invite.person_id).values(telegram_chat_id=chat_id))
    return invite


async def record_session(session: AsyncSession, client_id: str, day: date, recorded_by: str, now: datetime) -> bool:
    """Remember a coaching session date; False when it was already recorded."""
    stmt = (
        _insert(session, CoachingSession)
        .values(client_id=client_id, session_date=day, recorded_by=recorded_by, recorded_at=now)
        .on_conflict_do_nothing(index_elements=[CoachingSession.client_id, CoachingSession.session_date])
        .returning(CoachingSession.client_id)
    )
    return (await session.scalars(stmt)).first() is not None


async def recorded_sessions(session: AsyncSession, client_ids: Collection[str] | None = None) -> dict[str, list[date]]:
    """Recorded session dates per client (all clients, or those named), oldest first, in one query."""
    query = sa.select(CoachingSession.client_id, CoachingSession.session_date).order_by(
        CoachingSession.client_id, CoachingSession.session_date
    )
    if client_ids is not None:
        query = query.where(CoachingSession.client_id.in_(client_ids))
    sessions: dict[str, list[date]] = {}
    for client_id, day in await session.execute(query):
        sessions.setdefault(client_id, []).append(day)
    return sessions


async def last_slots(session: AsyncSession, client_ids: Collection[str] | None = None) -> dict[str, datetime]:
    """Each client's latest claimed slot: everything up to it has been dispatched or deliberately passed."""
    # max() keeps the column's type, so the slots come back as aware UTC like any other read.
    query = sa.select(CheckIn.client_id, sa.func.max(CheckIn.slot)).group_by(CheckIn.client_id)
    if client_ids is not None:
        query = query.where(CheckIn.client_id.in_(client_ids))
    return {client_id: slot for client_id, slot in await session.execute(query)}


async def open_checkins(session: AsyncSession) -> list[CheckIn]:
    """Check-ins still waiting for the client, for the reminder and expiry sweep."""
    query = sa.select(CheckIn).where(CheckIn.status.in_(OPEN_CHECKIN_STATUSES)).order_by(CheckIn.id)
    return list((await session.scalars(query)).all())


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


async def unacknowledged_urgent_alerts(session: AsyncSession, created_before: datetime) -> list[Alert]:
    """Urgent alerts older than ``created_before`` that nobody acknowledged and that were not sent again."""
    query = (
        sa.select(Alert)
        .where(
            Alert.severity == "urgent",
            Alert.acknowledged_at.is_(None),
            Alert.resent_at.is_(None),
            Alert.created_at <= created_before,
        )
        .order_by(Alert.id)
    )
    return await _alerts(session, query)


async def mark_alert_resent(session: AsyncSession, alert_id: int, now: datetime) -> bool:
    """True for the one caller (of several replicas) that gets to send the alert again."""
    updated = await session.scalars(
        sa.update(Alert)
        .where(Alert.id == alert_id, Alert.resent_at.is_(None))
        .values(resent_at=now)
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    )
    return updated.first() is not None


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


async def open_alert_counts(session: AsyncSession, coach_id: str | None) -> dict[str, int]:
    """Unacknowledged alerts per client, of one coach or of everyone, for the digest and status."""
    query = sa.select(Alert.client_id, sa.func.count()).where(Alert.acknowledged_at.is_(None))
    if coach_id is not None:
        query = query.join(Client, Client.id == Alert.client_id).where(Client.coach_id == coach_id)
    rows = await session.execute(query.group_by(Alert.client_id))
    return {client_id: int(count) for client_id, count in rows}


async def acknowledge_alerts(
    session: AsyncSession,
    coach_id: str,
    now: datetime,
    *,
    client_id: str | None = None,
    alert_id: int | None = None,
) -> int:
    """Acknowledge a coach's open alerts (all, one client's, or one); alerts of other coaches' clients never."""
    own_clients = sa.select(Client.id).where(Client.coach_id == coach_id).scalar_subquery()
    query = sa.update(Alert).where(Alert.acknowledged_at.is_(None), Alert.client_id.in_(own_clients))
    if client_id is not None:
        query = query.where(Alert.client_id == client_id)
    if alert_id is not None:
        query = query.where(Alert.id == alert_id)
    result = await session.execute(
        query.values(acknowledged_at=now, acknowledged_by=f"coach:{coach_id}").execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def set_alerts_snoozed(session: AsyncSession, client_id: str, until: datetime | None) -> None:
    await _update_client(session, client_id, alerts_snoozed_until=until)


async def forget_processed_events(session: AsyncSession, seen_before: datetime) -> int:
    """Drop inbound de-duplication records older than any re-delivery; returns how many went."""
    result = await session.execute(
        sa.delete(ProcessedEvent)
        .where(ProcessedEvent.seen_at < seen_before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
