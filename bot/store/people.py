"""Config people -> store records, keeping the people tables in step with config, and where to reach a person.

The store knows nothing of the config models (so either can change without the other); this module is the
one translation between them. Addresses are what the outbox stores: a Slack user id (or ``email:<address>``
until the Slack adapter has resolved it), or a Telegram chat id once an invite has bound it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Client as ClientConfig
from bot.config import Config
from bot.contract.statuses import DigestCadence, PersonKind
from bot.store.identities import sync_slack_identities
from bot.store.models import (
    Client,
    Coach,
    Goal,
    IdentityKind,
)
from bot.store.statements import BOUND_VALUES, chunks, insert_for


@dataclass(frozen=True, slots=True)
class CoachRecord:
    """A coach as config declares them; the runtime builds these so the store needs no config import."""

    id: str
    name: str
    timezone: str
    digest: DigestCadence
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
    deadlock); people and goals missing from config become inactive, never deleted. Their Slack identities
    follow config too (a changed one counts as a change of the person). Runtime-owned state (Telegram
    binding, opt-out, privacy notice, a self-set pause) is not written.
    """
    known_coaches = dict((await session.execute(sa.select(Coach.id, Coach.active))).all())
    stored_clients = {
        row.id: row for row in await session.execute(sa.select(Client.id, Client.paused_until, *_client_columns()))
    }
    known_clients = {client_id: row.active for client_id, row in stored_clients.items()}
    declared_coaches = {c.id for c in coaches}
    declared_clients = {c.id for c in clients}

    coach_rows = [
        {
            "id": c.id,
            "name": c.name,
            "timezone": c.timezone,
            "digest": c.digest,
            "active": True,
            "updated_at": now,
        }
        for c in sorted(coaches, key=lambda c: c.id)
    ]
    if coach_rows:
        stmt = insert_for(session, Coach)
        synced = ["name", "timezone", "digest", "active"]
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
            "paused_until": c.paused_until,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for c in sorted(clients, key=lambda c: c.id)
        if _client_differs(c, stored_clients.get(c.id))
    ]
    if client_rows:
        stmt = insert_for(session, Client)
        client_table = Client.__table__
        assert isinstance(client_table, sa.Table)
        paused_until = sa.func.coalesce(stmt.excluded.paused_until, client_table.c.paused_until)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Client.id],
                set_={
                    **{name: stmt.excluded[name] for name in [*_CLIENT_SYNCED, "updated_at"]},
                    "paused_until": paused_until,
                },
                where=sa.or_(
                    _changed(client_table, stmt.excluded, _CLIENT_SYNCED),
                    client_table.c.paused_until.is_distinct_from(paused_until),
                ),
            ),
            client_rows,
        )

    declared = [(PersonKind.COACH, c.id, c.slack_user_id, c.slack_email) for c in coaches]
    declared += [(PersonKind.CLIENT, c.id, c.slack_user_id, c.slack_email) for c in clients]
    readdressed = await sync_slack_identities(session, declared)
    for person, changed in ((Coach, readdressed[PersonKind.COACH]), (Client, readdressed[PersonKind.CLIENT])):
        await _update_people(session, person, sorted(changed), updated_at=now)

    await _sync_goals(session, clients)

    removed_clients = sorted(i for i, active in known_clients.items() if active and i not in declared_clients)
    await _update_people(session, Client, removed_clients, active=False, updated_at=now)
    removed_coaches = sorted(i for i, active in known_coaches.items() if active and i not in declared_coaches)
    await _update_people(session, Coach, removed_coaches, active=False, updated_at=now)
    return SyncResult(
        added_coaches=sorted(declared_coaches - known_coaches.keys()),
        deactivated_coaches=removed_coaches,
        added_clients=sorted(declared_clients - known_clients.keys()),
        deactivated_clients=removed_clients,
    )


async def _update_people(
    session: AsyncSession, person: type[Client] | type[Coach], ids: Sequence[str], **values: Any
) -> None:
    """Set ``values`` on the people named, in id order, a statement per ``BOUND_VALUES`` of them: a first start
    of 100,000 clients names them all, past what either database binds in one statement."""
    for chunk in chunks(ids, BOUND_VALUES):
        await session.execute(sa.update(person).where(person.id.in_(chunk)).values(**values))


#: The client columns config decides; a row is written only when one of them (or a stated pause) differs.
_CLIENT_SYNCED = ("name", "coach_id", "timezone", "cadence", "question_set", "language", "platform", "active")


def _client_columns() -> list[sa.ColumnElement[Any]]:
    return [Client.__table__.c[name] for name in _CLIENT_SYNCED]


def _client_differs(client: ClientRecord, stored: sa.Row[Any] | None) -> bool:
    """Whether the upsert would change the stored row (id, paused_until, then ``_CLIENT_SYNCED``), or there is
    none: most syncs change nothing, and at 10,000 clients sending every row through the upsert cost about a
    second at each start."""
    if stored is None:
        return True
    declared = (
        client.name,
        client.coach_id,
        client.timezone,
        client.cadence,
        client.question_set,
        client.language,
        client.platform,
        True,
    )
    if tuple(stored[2:]) != declared:
        return True
    return client.paused_until is not None and client.paused_until != stored.paused_until


async def _sync_goals(session: AsyncSession, clients: Sequence[ClientRecord]) -> None:
    """Declared goals active in config order, every other goal inactive; only rows that differ are written."""
    stored = {
        (client_id, goal_id): (title, active, position)
        for client_id, goal_id, title, active, position in await session.execute(
            sa.select(Goal.client_id, Goal.id, Goal.title, Goal.active, Goal.position)
        )
    }
    declared = {
        (c.id, g.id): (g.title, True, position)
        for c in sorted(clients, key=lambda c: c.id)
        for position, g in enumerate(c.goals)
    }
    retired = sorted(key for key, (_, active, _) in stored.items() if active and key not in declared)
    if retired:
        goals = Goal.__table__
        assert isinstance(goals, sa.Table)
        await session.execute(
            sa.update(goals)
            .where(goals.c.client_id == sa.bindparam("retired_client"), goals.c.id == sa.bindparam("retired_goal"))
            .values(active=False),
            [{"retired_client": client_id, "retired_goal": goal_id} for client_id, goal_id in retired],
        )
    goal_rows = [
        {"client_id": client_id, "id": goal_id, "title": title, "active": True, "position": position}
        for (client_id, goal_id), (title, _, position) in declared.items()
        if stored.get((client_id, goal_id)) != (title, True, position)
    ]
    if goal_rows:
        stmt = insert_for(session, Goal)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Goal.client_id, Goal.id],
                set_={name: stmt.excluded[name] for name in ("title", "active", "position")},
            ),
            goal_rows,
        )


def people_from_config(config: Config) -> tuple[list[CoachRecord], list[ClientRecord]]:
    coaches = [
        CoachRecord(
            id=c.id,
            name=c.name,
            timezone=c.timezone,
            digest=DigestCadence(c.digest),
            slack_user_id=c.slack.user_id if c.slack else None,
            slack_email=c.slack.email if c.slack else None,
        )
        for c in config.coaches
    ]
    return coaches, [_client_record(c) for c in config.clients]


def _client_record(client: ClientConfig) -> ClientRecord:
    paused_until = (
        # A paused-until date means "back on that day" in the client's own time zone.
        datetime.combine(client.paused_until, time.min, client.zone) if client.paused_until else None
    )
    return ClientRecord(
        id=client.id,
        name=client.name,
        coach_id=client.coach,
        timezone=client.timezone,
        cadence=client.cadence,
        question_set=client.question_set,
        language=client.language,
        platform="slack" if client.slack else "telegram",
        slack_user_id=client.slack.user_id if client.slack else None,
        slack_email=client.slack.email if client.slack else None,
        paused_until=paused_until,
        goals=[GoalRecord(g.id, g.title) for g in client.goals if g.active],
    )


def address_of(person: Client | Coach, platform: str | None = None) -> tuple[str, str] | None:
    """The (platform, recipient) to send to, or ``None`` while the person cannot be reached yet.

    Reads the identities loaded with the person, so it needs no session and no await.
    """
    chosen = platform or (person.platform if isinstance(person, Client) else None)
    if chosen in (None, "slack"):
        if user_id := person.identity("slack", IdentityKind.USER_ID):
            return ("slack", user_id)
        if email := person.identity("slack", IdentityKind.EMAIL):
            return ("slack", f"email:{email}")
    if chosen in (None, "telegram") and (chat_id := person.identity("telegram", IdentityKind.CHAT_ID)) is not None:
        return ("telegram", chat_id)
    return None
