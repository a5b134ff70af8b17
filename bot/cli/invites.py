"""Telegram invite links: issue one (`invite`), revoke them (`invite --revoke`), list them (`invites`).

A link is a credential for the person it names, so the command prints it once and the database keeps only
its hash; nothing here ever prints a token again, and a person already connected to a chat is moved to a new
one only with ``--rebind`` (the old chat and, for a client, the coach are told when it is opened).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from bot.app.platforms import PlatformSetupError, telegram_bot_username
from bot.cli.common import (
    EXIT_UNAVAILABLE,
    ConfigOption,
    config_path,
    database_url,
    fail,
    load,
    open_database,
    people_transaction,
    with_database_errors,
)
from bot.config import Config
from bot.config.errors import did_you_mean
from bot.config.fields import Duration
from bot.contract.statuses import PersonKind
from bot.store import identities, invites
from bot.store.models import TelegramInvite


def register(app: typer.Typer) -> None:
    app.command()(invite)
    app.command("invites")(list_invites)


def invite(
    person: Annotated[str, typer.Argument(help="The id of a client or coach in the config who uses Telegram.")],
    expires: Annotated[str, typer.Option("--expires", help="How long the link stays valid: 30m, 24h, 7d, 2w")] = "7d",
    rebind: Annotated[
        bool,
        typer.Option(
            "--rebind",
            help="Let the link move a person already connected to a chat to the chat that opens it "
            "(the old chat and the coach are told).",
        ),
    ] = False,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke PERSON's open invite links instead of issuing one.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Print a one-time Telegram link that connects PERSON's chat to the bot when they open it.

    The link works once and expires; send it to the person yourself (e-mail, a message). Opening it starts the
    bot in Telegram, which binds that chat to them and greets them. A new link revokes PERSON's earlier ones.
    """
    loaded, _ = load(config_path(config))
    kinds = {c.id: (PersonKind.COACH, c.telegram is not None) for c in loaded.coaches}
    kinds |= {c.id: (PersonKind.CLIENT, c.telegram is not None) for c in loaded.clients}
    if person not in kinds:
        fail(f"checkin invite: unknown person '{person}'{did_you_mean(person, list(kinds))}")
    kind, on_telegram = kinds[person]
    url = database_url(loaded)
    if revoke:
        if rebind:
            fail("checkin invite: --revoke and --rebind do not go together")
        revoked = with_database_errors(url, _revoke(url, loaded, kind, person))
        typer.echo(f"{person}: {revoked} open invite link{'' if revoked == 1 else 's'} revoked")
        return
    if not on_telegram or loaded.platforms.telegram is None:
        fail(f"checkin invite: {person} is not on Telegram in the config (add 'telegram: {{}}')")
    try:
        lifetime = TypeAdapter(Duration).validate_python(expires)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        fail(f"checkin invite: --expires {expires}: {reason}")
    token = secrets.token_urlsafe(24)  # 32 characters: well inside the 64 a /start parameter may have
    username = _bot_username(loaded)
    stored = with_database_errors(url, _store_invite(url, loaded, token, kind, person, lifetime, rebind))
    if not stored:
        fail(
            f"checkin invite: {person} is already connected to a Telegram chat; to move them to another chat, "
            "issue the link with --rebind (the old chat and the coach are told when it is opened)"
        )
    typer.echo(f"https://t.me/{username}?start={token}")


def _bot_username(config: Config) -> str:
    try:
        return asyncio.run(telegram_bot_username(config))
    except PlatformSetupError as exc:
        fail(str(exc))
    except ConnectionError as exc:
        fail(f"checkin invite: {exc}", EXIT_UNAVAILABLE)


async def _store_invite(
    url: str, config: Config, token: str, kind: PersonKind, person: str, lifetime: timedelta, rebind: bool
) -> bool:
    """Store the invite; False (nothing stored) when the person has a chat already and ``rebind`` was not asked."""
    async with people_transaction(url, config, "invite") as (session, now):
        if not rebind and await identities.telegram_chat_of(session, kind, person) is not None:
            return False
        await invites.create_telegram_invite(session, token, kind, person, now + lifetime, now, rebind=rebind)
        return True


async def _revoke(url: str, config: Config, kind: PersonKind, person: str) -> int:
    async with people_transaction(url, config, "invite") as (session, now):
        return await invites.revoke_invites(session, kind, person, now)


def list_invites(config: ConfigOption = None) -> None:
    """List the invite links issued (person, state, dates), newest first; the links themselves are not kept."""
    loaded, _ = load(config_path(config))
    url = database_url(loaded)

    async def read() -> list[str]:
        async with open_database(url, "invites") as database, database.session() as session:
            now = datetime.now(UTC)
            return [_line(row, now) for row in await invites.list_invites(session)]

    lines = with_database_errors(url, read())
    typer.echo("\n".join(lines) if lines else "no invite links issued")


def _line(row: TelegramInvite, now: datetime) -> str:
    """One invite as the admin reads it: who, what state, when; never anything that could redeem it."""
    if row.revoked_at is not None:
        state = f"revoked {_when(row.revoked_at)}"
    elif row.used_at is not None:
        state = f"used {_when(row.used_at)}"
    elif row.expires_at <= now:
        state = f"expired {_when(row.expires_at)}"
    else:
        state = f"open until {_when(row.expires_at)}"
    flag = " (rebind)" if row.rebind else ""
    return f"{row.person_kind} {row.person_id}: {state}{flag}"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
