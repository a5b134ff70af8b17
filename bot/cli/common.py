"""What every command shares: finding and loading the config, opening the database, and one-line errors.

Commands report what went wrong in one line on standard error and exit with a status a script can test;
the helpers here do both, so no command prints a traceback for a mistake an admin can fix.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.cli.start_up import collections_paused
from bot.config import Client as ClientConfig
from bot.config import Config, ConfigError, MissingSecretError, resolve_secret
from bot.config.loader import load_config_document
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.config.yamlsource import SourceDocument
from bot.contract.adapter import AdapterStartError
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog
from bot.observability.errors import ListenError
from bot.scheduling.client_schedule import UnknownClientError
from bot.store import UNAVAILABLE, Database, Session, people, unavailable_reason
from bot.store.keycheck import KeyMismatchError
from bot.store.people import people_from_config
from bot.store.sealing import Sealer, SealingKeyError

T = TypeVar("T")

CONFIG_ENV = "CHECKIN_CONFIG"
DEFAULT_CONFIG = Path("config.yaml")
#: Exit status for "your input is wrong", matching the usage errors of click/typer.
EXIT_INVALID = 2
#: Exit status when a service the command needs (the database) cannot be used, as in sysexits.h.
EXIT_UNAVAILABLE = 69

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"Configuration file [default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}]",
    ),
]
ClientArgument = Annotated[str, typer.Argument(help="The client's id in the config.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")]


def config_path(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file to use: the explicit option, else ``$CHECKIN_CONFIG``, else ``./config.yaml``."""
    if explicit is not None:
        return explicit
    from_env = (os.environ if environ is None else environ).get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def catalog() -> TextCatalog:
    """Every language's message texts, or print what is wrong in the prompts files and exit ``EXIT_INVALID``."""
    try:
        return load_catalog()
    except ConfigError as exc:
        fail_with(exc)


def load(path: Path) -> tuple[Config, dict[str, QuestionSet]]:
    """Load config and question sets, or print every problem and exit with ``EXIT_INVALID``."""
    loaded, question_sets, _ = load_with_document(path)
    return loaded, question_sets


def load_with_document(path: Path) -> tuple[Config, dict[str, QuestionSet], SourceDocument]:
    """``load``, also giving the parsed file for warnings that point at its lines.

    Collections are paused meanwhile (``start_up``): the config is most of what start-up builds.
    """
    try:
        with collections_paused():
            loaded, document = load_config_document(path)
            return loaded, load_question_sets(loaded, path), document
    except ConfigError as exc:
        fail_with(exc)


def fail_with(error: ConfigError) -> NoReturn:
    """Print each problem of a config or prompts file on its own line and exit ``EXIT_INVALID``."""
    for issue in error.issues:
        typer.echo(str(issue), err=True)
    raise typer.Exit(EXIT_INVALID)


def fail(message: str, status: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` on standard error and exit with ``status``."""
    typer.echo(message, err=True)
    raise typer.Exit(status)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read: an export or a chart holds what a client said or how they are.

    Created 0600 (whatever the umask), and narrowed to 0600 when it already existed with wider permissions.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def known_client(command: str, config: Config, client: str) -> ClientConfig:
    """The config's client of that id, or a one-line "unknown client" (with a suggestion) and ``EXIT_INVALID``."""
    found = next((c for c in config.clients if c.id == client), None)
    if found is None:
        fail(f"checkin {command}: {UnknownClientError(client, [c.id for c in config.clients])}")
    return found


def sealer(command: str) -> Sealer:
    """The sealer ``CHECKIN_ENCRYPTION_KEY`` describes, or a one-line reason (never the key) to exit."""
    try:
        return Sealer.from_environment()
    except SealingKeyError as exc:
        fail(f"checkin {command}: {exc}")


def database_url(config: Config) -> str:
    """The config's database URL with its ``${VARIABLE}`` filled in, or which variable is unset."""
    try:
        return resolve_secret(config.database.url)
    except MissingSecretError as exc:
        fail(f"database.url: {exc}")


def with_database_errors(url: str, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; an unreachable or refusing database is reported in one line, not a traceback.

    So is a health and metrics port the bot cannot listen on (``observability.http``), a chat platform
    that refuses the bot's token at start, and encryption keys that do not open what the database holds.
    """
    try:
        return asyncio.run(work)
    except (ListenError, AdapterStartError) as exc:
        fail(f"checkin: {exc}", EXIT_UNAVAILABLE)
    except KeyMismatchError as exc:
        fail(f"checkin: {exc}")
    except UNAVAILABLE as exc:
        fail(unavailable_reason(url, exc), EXIT_UNAVAILABLE)


@asynccontextmanager
async def open_database(url: str, command: str) -> AsyncIterator[Database]:
    """The configured database, migrated, reading and writing free text with ``CHECKIN_ENCRYPTION_KEY``."""
    database = Database(url, sealer=sealer(command))
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


@asynccontextmanager
async def people_transaction(url: str, config: Config, command: str) -> AsyncIterator[tuple[Session, datetime]]:
    """A transaction on the configured database with the config's people in it, for one admin command.

    The bot mirrors people into the database when it starts; an admin command may run before it ever has.
    """
    async with open_database(url, command) as database, database.transaction() as session:
        now = datetime.now(UTC)
        await people.sync_people(session, *people_from_config(config), now)
        yield session, now


def plural(count: int, noun: str) -> str:
    suffix = "es" if noun.endswith("h") else "s"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}{suffix}"
