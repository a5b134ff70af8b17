"""Commands about the stored data as a whole: export, forget, purge, rekey, and the schema (db upgrade)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import (
    ConfigOption,
    YesOption,
    config_path,
    database_url,
    fail,
    load,
    open_database,
    plural,
    sealer,
    with_database_errors,
    write_private,
)
from bot.store import Database, admin
from bot.store.rekey import DEFAULT_BATCH, FieldReport
from bot.store.rekey import rekey as rekey_database
from bot.store.sealing import KEY_ENV, Sealer

#: Exit status of `checkin rekey` when some values could not be decrypted with the configured keys.
EXIT_UNREADABLE = 1

ForgottenClientArgument = Annotated[str, typer.Argument(help="The client's id (also one no longer in the config).")]


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command()(forget)
    app.command()(purge)
    app.command()(rekey)
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")


def export(
    client: ForgottenClientArgument,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json (everything) or csv (one row per answer).")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write [default: standard output].")] = None,
    config: ConfigOption = None,
) -> None:
    """Export everything stored about one client: profile, goals, sessions, check-ins with answers, alerts."""
    if fmt not in ("json", "csv"):
        fail(f"checkin export: --format must be json or csv, not '{fmt}'")
    loaded, _ = load(config_path(config))
    url = database_url(loaded)

    async def read() -> dict[str, Any] | None:
        async with open_database(url, "export") as database, database.session() as session:
            try:
                return await admin.export_client(session, client)
            except LookupError:
                return None

    exported = with_database_errors(url, read())
    if exported is None:
        fail(f"checkin export: the database has nothing about a client '{client}'")
    text = json.dumps(exported, ensure_ascii=False, indent=2) + "\n" if fmt == "json" else admin.export_csv(exported)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        write_private(out, text.encode("utf-8"))
    except OSError as exc:
        fail(f"checkin export: cannot write {out}: {exc.strerror or exc}")
    typer.echo(f"{client}: exported to {out}")


def forget(client: ForgottenClientArgument, yes: YesOption = False, config: ConfigOption = None) -> None:
    """Erase a client's answers, check-ins, alerts, sessions, messages and chat binding. Cannot be undone.

    A client still in the config keeps an empty record and is checked in with again at their next slot;
    remove them from the config (and reload) first to end that too.
    """
    loaded, _ = load(config_path(config))
    in_config = any(c.id == client for c in loaded.clients)
    if not yes and not typer.confirm(f"Erase everything stored about {client}? This cannot be undone.", default=False):
        typer.echo("nothing erased")
        raise typer.Exit(1)
    url = database_url(loaded)

    async def erase() -> admin.Erased | None:
        async with open_database(url, "forget") as database, database.transaction() as session:
            try:
                return await admin.forget_client(session, client, keep_client=in_config)
            except LookupError:
                return None

    erased = with_database_errors(url, erase())
    if erased is None:
        fail(f"checkin forget: the database has nothing about a client '{client}'")
    typer.echo(
        f"{client}: erased {plural(erased.checkins, 'check-in')}, {plural(erased.answers, 'answer')}, "
        f"{plural(erased.alerts, 'alert')}, {plural(erased.messages, 'message')}"
    )
    if in_config:
        typer.echo(f"note: {client} is still in the config and will be checked in with again; remove them there")
    # The files an admin wrote are on their disk, where the database cannot see them.
    typer.echo(
        f"note: files you wrote with 'checkin export -o' or 'checkin trend -o' about {client} are yours to delete"
    )


def purge(
    older_than: Annotated[int, typer.Option("--older-than", metavar="DAYS", min=1, help="Age in days.")],
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete closed check-ins and answers, alerts, sent messages and old records older than DAYS.

    The bot does this itself every day when the config sets retention_days.
    """
    loaded, _ = load(config_path(config))
    if not yes and not typer.confirm(f"Delete everything older than {older_than} days?", default=False):
        typer.echo("nothing deleted")
        raise typer.Exit(1)
    url = database_url(loaded)

    async def run_purge() -> admin.Purged:
        async with open_database(url, "purge") as database, database.transaction() as session:
            return await admin.purge_older_than(session, datetime.now(UTC) - timedelta(days=older_than))

    purged = with_database_errors(url, run_purge())
    typer.echo(
        f"purged {plural(purged.checkins, 'check-in')}, {plural(purged.answers, 'answer')}, "
        f"{plural(purged.alerts, 'alert')}, {plural(purged.messages, 'message')}, "
        f"{plural(purged.events, 'event record')}, {plural(purged.invites, 'invite')}"
    )


def rekey(
    config: ConfigOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction")] = DEFAULT_BATCH,
) -> None:
    """Encrypt the stored free text with the first key in $CHECKIN_ENCRYPTION_KEY.

    Plain text (written before a key was set) is encrypted, text encrypted with an older key is re-encrypted,
    text already under the first key is left alone: running it twice changes nothing, and it can run while the
    bot does.

    To rotate the key: generate a new one with
    .venv/bin/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())",
    set CHECKIN_ENCRYPTION_KEY=NEW,OLD and restart the bot (it then encrypts with NEW and still reads OLD),
    run `.venv/bin/checkin rekey`, then set CHECKIN_ENCRYPTION_KEY=NEW and restart again.
    """
    loaded, _ = load(config_path(config))
    seal = sealer("rekey")
    if not seal.enabled:
        fail(f"checkin rekey: {KEY_ENV} is not set, so there is no key to encrypt with")
    url = database_url(loaded)
    reports = with_database_errors(url, _rekey(url, seal, batch))
    for report in reports:
        typer.echo(
            f"{report.name}: {report.sealed} encrypted, {report.resealed} re-encrypted with the new key, "
            f"{report.current} already current"
        )
    unreadable = sum(report.unreadable for report in reports)
    if unreadable:
        fail(
            f"checkin rekey: {plural(unreadable, 'value')} could not be decrypted with any key in {KEY_ENV}; "
            "add the key they were encrypted with after the new one and run it again",
            EXIT_UNREADABLE,
        )


async def _rekey(url: str, seal: Sealer, batch: int) -> list[FieldReport]:
    database = Database(url, sealer=seal)
    await database.start()
    try:
        return await rekey_database(database, batch=batch)
    finally:
        await database.stop()


def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database named in the config to the latest schema (the bot also does this on start)."""
    loaded, _ = load(config_path(config))
    database = Database(database_url(loaded))

    async def upgrade() -> str | None:
        await database.start()
        try:
            return await database.current_revision()
        finally:
            await database.stop()

    shown = database.url.render_as_string(hide_password=True)
    revision = with_database_errors(shown, upgrade())
    typer.echo(f"{shown}: schema at revision {revision}")
