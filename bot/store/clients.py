"""Clients: finding them, and their runtime state (pauses, opt-out, privacy notice, reachability, snoozes).

Every query takes the caller's session; the caller owns the transaction, so a state change and the outbox
rows it causes commit together (DESIGN §6).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from bot.contract.statuses import CheckInStatus
from bot.store.identities import find_client_by_identity
from bot.store.models import (
    Alert,
    CheckIn,
    Client,
)
from bot.store.statements import among
from bot.store.streaming import partitions


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


async def client_by_id(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


async def active_clients(
    session: AsyncSession, *, coach_id: str | None = None, client_ids: Collection[str] | None = None
) -> list[Client]:
    """Active clients (of one coach, or those named, or all) by name, then id."""
    query = sa.select(Client).where(Client.active).order_by(Client.name, Client.id)
    if coach_id is not None:
        query = query.where(Client.coach_id == coach_id)
    if client_ids is not None:
        query = query.where(Client.id.in_(client_ids))
    return list((await session.scalars(query)).all())


@dataclass(frozen=True, slots=True)
class ClientGlance:
    """An active client as a row at a glance shows them: who they are, the facts their state is read from, their
    latest check-in (by slot, whatever its status) and how many of their alerts are open. Plain values, read as
    columns: a page of them costs no ORM objects, identities or check-in JSON."""

    id: str
    name: str
    coach_id: str
    timezone: str
    question_set: str
    active: bool
    paused_until: datetime | None
    opted_out_at: datetime | None
    unreachable_at: datetime | None
    last_slot: datetime | None
    last_status: CheckInStatus | None
    #: Set when the outbox gave up on a message of the latest check-in.
    last_undelivered_at: datetime | None
    open_alerts: int


async def client_glances(
    session: AsyncSession, *, coach_id: str | None = None, client_ids: Collection[str] | None = None
) -> list[ClientGlance]:
    """Active clients (of one coach, or those named, or all) by name, then id, as ``ClientGlance`` rows, in one
    query whatever their number: the latest check-in and the open alerts are looked up per client by index."""
    query = _glance_statement(coach_id is not None, client_ids is not None)
    found = await session.execute(query, {"coach_id": coach_id, "client_ids": list(client_ids or ())})
    rows: Sequence[tuple[Any, ...]] = found.all()
    return [ClientGlance(*row) for row in rows]


@functools.cache
def _glance_statement(by_coach: bool, by_ids: bool) -> Any:
    """``client_glances``'s query, built once per filter: building it costs more than running it."""
    latest = aliased(CheckIn)
    newest = (
        sa.select(CheckIn.id)
        .where(CheckIn.client_id == Client.id)
        .order_by(CheckIn.slot.desc())
        .limit(1)
        .correlate(Client)
        .scalar_subquery()
    )
    open_alerts = (
        sa.select(sa.func.count())
        .where(Alert.client_id == Client.id, Alert.acknowledged_at.is_(None))
        .correlate(Client)
        .scalar_subquery()
    )
    query = (
        sa.select(
            Client.id,
            Client.name,
            Client.coach_id,
            Client.timezone,
            Client.question_set,
            Client.active,
            Client.paused_until,
            Client.opted_out_at,
            Client.unreachable_at,
            latest.slot,
            latest.status,
            latest.undelivered_at,
            open_alerts,
        )
        .outerjoin(latest, latest.id == newest)
        .where(Client.active)
        .order_by(Client.name, Client.id)
    )
    if by_coach:
        query = query.where(Client.coach_id == sa.bindparam("coach_id"))
    if by_ids:
        query = query.where(Client.id.in_(sa.bindparam("client_ids", expanding=True)))
    return query


async def coachs_client_alerted_in(session: AsyncSession, coach_id: str, alert_id: int) -> Client | None:
    """The coach's own active client an alert is about; None for another coach's client or an unknown alert."""
    alert_client = sa.select(Alert.client_id).where(Alert.id == alert_id).scalar_subquery()
    query = sa.select(Client).where(Client.coach_id == coach_id, Client.active, Client.id == alert_client)
    return (await session.scalars(query)).first()


async def time_zones(session: AsyncSession) -> dict[str, str]:
    """Every client's time zone name, removed clients included (their open check-ins still close)."""
    zones: dict[str, str] = {}
    async for partition in partitions(session, sa.select(Client.id, Client.timezone)):
        zones.update(partition)
    return zones


class ScheduleFacts(NamedTuple):
    """What a client's schedule needs from the database besides config. A tuple of plain values, which the
    garbage collector stops tracking: a dispatch pass holds one per client."""

    created_at: datetime
    paused_until: datetime | None


async def schedule_facts(session: AsyncSession, client_ids: Collection[str] | None = None) -> dict[str, ScheduleFacts]:
    """When each active client (all, or those named) was added and until when they are paused."""
    query = sa.select(Client.id, Client.created_at, Client.paused_until).where(Client.active)
    if client_ids is not None:
        query = query.where(among(session, Client.id, client_ids))
    facts: dict[str, ScheduleFacts] = {}
    async for partition in partitions(session, query):
        facts.update((client_id, ScheduleFacts(created, paused)) for client_id, created, paused in partition)
    return facts


async def clients_by_id(
    session: AsyncSession, client_ids: Collection[str], *, lock: bool = False, skip_locked: bool = False
) -> dict[str, Client]:
    """The named clients that exist, by id, with their identities (a check-in batch reads them in one query).

    ``lock`` row-locks them for the transaction (PostgreSQL's ``FOR NO KEY UPDATE``; SQLite has one writer and
    ignores it); ``skip_locked`` also leaves out those another transaction holds instead of waiting: a replica
    starting check-ins passes over the clients another replica is starting, instead of planning them too and
    waiting for that replica's inserts to lose against them. The identities are joined rather than read by a
    second query (the relationship's ``selectin``): one statement less for every batch of check-ins started.
    """
    if not client_ids:
        return {}
    query = sa.select(Client).options(joinedload(Client.identities)).where(among(session, Client.id, client_ids))
    if lock or skip_locked:
        # Only the clients' rows: an identity is not what two replicas race for (nor can PostgreSQL lock the
        # nullable side of the outer join).
        query = query.with_for_update(skip_locked=skip_locked, key_share=True, of=Client)
    return {c.id: c for c in (await session.scalars(query)).unique()}
