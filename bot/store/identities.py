"""People's platform identities: who is behind an address, and keeping the identities config owns in step.

Slack identities (user id, e-mail) come from config and are synced with it; a Telegram chat id is bound at
runtime by an invite. A Slack person configured by e-mail is known by that address until the adapter resolves
it: outbound as the address ``email:<address>``, inbound by the ``email`` the adapter looked up for the
sender's user id. E-mail addresses match whatever their case.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import PersonKind
from bot.store.models import Client, Coach, Identity, IdentityKind
from bot.store.statements import BOUND_VALUES, chunks, insert_for

#: A person as config declares their Slack identities: (kind, id, Slack user id, Slack e-mail).
DeclaredSlack = tuple[PersonKind, str, str | None, str | None]


def _chat_id(address: str) -> str | None:
    """A Telegram chat id as stored (its canonical integer text), or None for an address that is no chat id."""
    try:
        return str(int(address))
    except ValueError:
        return None


def _identity_clause(platform: str, address: str, email: str | None) -> sa.ColumnElement[bool]:
    """The identities that ``address`` (and the sender's looked-up ``email``) on ``platform`` names."""
    slack_user = sa.and_(Identity.kind == IdentityKind.USER_ID, Identity.value == address)

    def slack_email(wanted: str) -> sa.ColumnElement[bool]:
        return sa.and_(Identity.kind == IdentityKind.EMAIL, sa.func.lower(Identity.value) == wanted.lower())

    if platform == "slack":
        if address.startswith("email:"):
            match = slack_email(address.removeprefix("email:"))
        elif email:
            match = sa.or_(slack_user, slack_email(email))
        else:
            match = slack_user
        return sa.and_(Identity.platform == "slack", match)
    if platform == "telegram":
        chat_id = _chat_id(address)
        if chat_id is None:
            return sa.false()
        return sa.and_(
            Identity.platform == "telegram", Identity.kind == IdentityKind.CHAT_ID, Identity.value == chat_id
        )
    raise ValueError(f"unknown platform {platform!r}")


def _named_by(
    entity: type[Client] | type[Coach], kind: PersonKind, platform: str, address: str, email: str | None
) -> sa.ColumnElement[bool]:
    """Who ``address`` is on ``platform``; on the console, a person's address is their id."""
    if platform == "console":
        return entity.id == address
    owners = sa.select(Identity.person_id).where(
        Identity.person_kind == kind, _identity_clause(platform, address, email)
    )
    return entity.id.in_(owners)


async def find_client_by_identity(
    session: AsyncSession, platform: str, address: str, email: str | None = None
) -> Client | None:
    """The active client behind a platform address (Slack user id, Telegram chat id, console client id)."""
    query = sa.select(Client).where(Client.active, _named_by(Client, PersonKind.CLIENT, platform, address, email))
    if platform == "slack":
        query = query.where(Client.platform == "slack")
    return (await session.scalars(query.order_by(Client.id).limit(1))).first()


async def find_coach_by_identity(
    session: AsyncSession, platform: str, address: str, email: str | None = None
) -> Coach | None:
    """The active coach behind a platform address, for alert buttons and coach commands."""
    query = sa.select(Coach).where(Coach.active, _named_by(Coach, PersonKind.COACH, platform, address, email))
    return (await session.scalars(query.order_by(Coach.id).limit(1))).first()


def address_key(platform: str, recipient: str) -> tuple[str, str]:
    """An outbox address in the form it is compared in: Slack e-mail addresses match whatever their case."""
    return (platform, recipient.lower() if recipient.startswith("email:") else recipient)


def addresses_of(person: Client | Coach) -> set[tuple[str, str]]:
    """Every address a message to this person may have been queued under (``people.address_of``, the console)."""
    addresses = {("console", person.id)}
    for identity in person.identities:
        if identity.platform == "slack" and identity.kind == IdentityKind.EMAIL:
            addresses.add(address_key("slack", f"email:{identity.value}"))
        else:
            addresses.add((identity.platform, identity.value))
    return addresses


def people_at(kind: PersonKind, addresses: Collection[tuple[str, str]]) -> sa.Select[str]:
    """The ids of the people of ``kind`` whose identities these outbox addresses (``address_key`` form) name.

    Console addresses are person ids already and name no identity.
    """
    slack_users = [r for p, r in addresses if p == "slack" and not r.startswith("email:")]
    emails = [r.removeprefix("email:") for p, r in addresses if p == "slack" and r.startswith("email:")]
    chats = [chat for p, r in addresses if p == "telegram" and (chat := _chat_id(r)) is not None]
    reached = sa.or_(
        sa.and_(Identity.platform == "slack", Identity.kind == IdentityKind.USER_ID, Identity.value.in_(slack_users)),
        sa.and_(
            Identity.platform == "slack", Identity.kind == IdentityKind.EMAIL, sa.func.lower(Identity.value).in_(emails)
        ),
        sa.and_(Identity.platform == "telegram", Identity.kind == IdentityKind.CHAT_ID, Identity.value.in_(chats)),
    )
    return sa.select(Identity.person_id).where(Identity.person_kind == kind, reached)


async def sync_slack_identities(session: AsyncSession, declared: Sequence[DeclaredSlack]) -> dict[PersonKind, set[str]]:
    """Make the declared people's Slack identities what config says; return whose changed, by kind.

    People config no longer declares keep theirs, as their rows are kept. Rows are written in a fixed
    order, so replicas syncing at once lock in the same order, and the upsert lets either go first.
    """
    wanted: dict[tuple[PersonKind, str, IdentityKind], str] = {}
    for kind, person_id, user_id, email in declared:
        if user_id:
            wanted[(kind, person_id, IdentityKind.USER_ID)] = user_id
        if email:
            wanted[(kind, person_id, IdentityKind.EMAIL)] = email
    people = {(kind, person_id) for kind, person_id, _, _ in declared}
    stored = await session.execute(
        sa.select(Identity.id, Identity.person_kind, Identity.person_id, Identity.kind, Identity.value).where(
            Identity.platform == "slack"
        )
    )
    have: dict[tuple[PersonKind, str, IdentityKind], tuple[int, str]] = {
        (kind, person_id, identity_kind): (row_id, value) for row_id, kind, person_id, identity_kind, value in stored
    }
    stale = {key: row_id for key, (row_id, _) in have.items() if key[:2] in people and key not in wanted}
    fresh = sorted(key for key, value in wanted.items() if key not in have or have[key][1] != value)
    changed: dict[PersonKind, set[str]] = {kind: set() for kind in PersonKind}
    for kind, person_id, _ in [*stale, *fresh]:
        changed[kind].add(person_id)
    for chunk in chunks(sorted(stale.values()), BOUND_VALUES):
        await session.execute(
            sa.delete(Identity).where(Identity.id.in_(chunk)).execution_options(synchronize_session=False)
        )
    if fresh:
        stmt = insert_for(session, Identity)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Identity.person_kind, Identity.person_id, Identity.platform, Identity.kind],
                set_={"value": stmt.excluded.value},
            ),
            [
                {
                    "person_kind": kind,
                    "person_id": person_id,
                    "platform": "slack",
                    "kind": identity_kind,
                    "value": wanted[(kind, person_id, identity_kind)],
                }
                for (kind, person_id, identity_kind) in fresh
            ],
        )
    return changed


async def telegram_chat_of(session: AsyncSession, kind: PersonKind, person_id: str) -> int | None:
    """The Telegram chat the person is bound to, if any."""
    value = await session.scalar(
        sa.select(Identity.value).where(
            Identity.person_kind == kind,
            Identity.person_id == person_id,
            Identity.platform == "telegram",
            Identity.kind == IdentityKind.CHAT_ID,
        )
    )
    return int(value) if value is not None else None


async def bind_telegram_chat(session: AsyncSession, kind: PersonKind, person_id: str, chat_id: int) -> None:
    """Make ``chat_id`` the person's Telegram chat, replacing one bound before."""
    stmt = insert_for(session, Identity).values(
        person_kind=kind, person_id=person_id, platform="telegram", kind=IdentityKind.CHAT_ID, value=str(chat_id)
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Identity.person_kind, Identity.person_id, Identity.platform, Identity.kind],
            set_={"value": stmt.excluded.value},
        )
    )
    await _reload_identities(session, kind, person_id)


async def forget_identities(
    session: AsyncSession, kind: PersonKind, person_id: str, platform: str | None = None
) -> None:
    """Drop a person's identities (on one platform, or all), for erasure."""
    query = sa.delete(Identity).where(Identity.person_kind == kind, Identity.person_id == person_id)
    if platform is not None:
        query = query.where(Identity.platform == platform)
    await session.execute(query.execution_options(synchronize_session=False))
    await _reload_identities(session, kind, person_id)


async def _reload_identities(session: AsyncSession, kind: PersonKind, person_id: str) -> None:
    # A person this session already holds would otherwise keep the identities it was loaded with.
    entity: type[Client] | type[Coach] = Client if kind == PersonKind.CLIENT else Coach
    loaded = session.identity_map.get(session.sync_session.identity_key(entity, person_id))
    if loaded is not None:
        await session.refresh(loaded, ["identities"])
