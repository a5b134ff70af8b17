"""The ``checkin`` command line: the only module that talks to the terminal and exits the process.

Each command is a small function registered on ``app``; commands that read the configuration take
``ConfigOption`` and call ``config_path`` so that ``--config``, ``$CHECKIN_CONFIG`` and ``./config.yaml``
are honoured the same way everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app.demo import run_demo
from bot.app.serve import serve, serve_console
from bot.coaching.status import ClientStatus, client_state, client_statuses
from bot.config import Client as ClientConfig
from bot.config import Config, ConfigError, MissingSecretError, load_config, resolve_secret, unset_variables
from bot.config.errors import did_you_mean
from bot.config.language_report import language_warnings
from bot.config.models import Alerts, Duration
from bot.config.question_sets import load_builtin_question_sets, load_question_sets
from bot.config.yamlsource import read_mapping
from bot.contract.adapter import Adapter, AdapterStartError
from bot.contract.statuses import PersonKind
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog, load_catalog, load_texts
from bot.observability.logs import configure_logging
from bot.observability.server import ListenError
from bot.runtime.core import Runtime
from bot.scheduling.client_schedule import UnknownClientError
from bot.scheduling.report import schedule_report, session_notes
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.detectors.words import RiskPhrasesError, load_risk_phrases
from bot.signals.history import HistoryEntry
from bot.signals.replay import ReplaySetup
from bot.signals.replay import replay as replay_history
from bot.store import Database, admin, clients, coaching_sessions, invites, people
from bot.store.history import alert_times, client_history
from bot.store.models import Client as ClientRow
from bot.store.people import people_from_config
from bot.store.rekey import DEFAULT_BATCH, FieldReport
from bot.store.rekey import rekey as rekey_database
from bot.store.sealing import KEY_ENV, Sealer, SealingKeyError
from bot.timing.clock import SystemClock

T = TypeVar("T")

CONFIG_ENV = "CHECKIN_CONFIG"
DEFAULT_CONFIG = Path("config.yaml")
#: The demo's fallback when there is no config of one's own: the example beside the source tree.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.yaml"
#: Exit status for "your input is wrong", matching the usage errors of click/typer.
EXIT_INVALID = 2
#: Exit status when a service the command needs (the database) cannot be used, as in sysexits.h.
EXIT_UNAVAILABLE = 69
#: Exit status of `checkin replay` when some lines of the history file were malformed and skipped.
EXIT_MALFORMED_LINES = 1
#: Exit status of `checkin rekey` when some values could not be decrypted with the configured keys.
EXIT_UNREADABLE = 1
#: Exit status after Ctrl-C, as shells report it (128 + SIGINT).
EXIT_INTERRUPTED = 130

app = typer.Typer(
    help="Between-session check-ins for coaching clients.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"Configuration file [default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}]",
    ),
]


def config_path(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file to use: the explicit option, else ``$CHECKIN_CONFIG``, else ``./config.yaml``."""
    if explicit is not None:
        return explicit
    from_env = (os.environ if environ is None else environ).get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


PID_FILE_ENV = "CHECKIN_PID_FILE"

PidFileOption = Annotated[
    Path | None,
    typer.Option(
        "--pid-file",
        help=f"Where `run` writes its process id for `reload` [default: ${PID_FILE_ENV}, else CONFIG.pid]",
    ),
]


def pid_file_path(config: Path, explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The pid file `run` writes and `reload` reads: the option, else ``$CHECKIN_PID_FILE``, else beside the config."""
    if explicit is not None:
        return explicit
    from_env = (os.environ if environ is None else environ).get(PID_FILE_ENV)
    return Path(from_env) if from_env else config.with_name(f"{config.name}.pid")


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _catalog() -> TextCatalog:
    """Every language's message texts, or print what is wrong in the prompts files and exit ``EXIT_INVALID``."""
    try:
        return load_catalog()
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _load(path: Path) -> tuple[Config, dict[str, QuestionSet]]:
    """Load config and question sets, or print every problem and exit with ``EXIT_INVALID``."""
    try:
        loaded = load_config(path)
        return loaded, load_question_sets(loaded, path)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(EXIT_INVALID) from None


@app.command()
def validate(
    path: Annotated[Path | None, typer.Argument(help="Configuration file (same as --config).")] = None,
    config: ConfigOption = None,
) -> None:
    """Check a configuration file and its question sets; list every problem with its line.

    Warnings (a client's language without texts, a translation that lacks some) do not change the exit status:
    the bot runs, and those clients read English.
    """
    if path is not None and config is not None:
        typer.echo("checkin validate: give the file as an argument or with --config, not both", err=True)
        raise typer.Exit(EXIT_INVALID)
    chosen = config_path(path or config)
    loaded, question_sets = _load(chosen)
    counts = ", ".join(
        _plural(len(items), noun)
        for items, noun in (
            (loaded.coaches, "coach"),
            (loaded.clients, "client"),
            (loaded.cadences, "cadence"),
            (question_sets, "question set"),
        )
    )
    typer.echo(f"{chosen}: OK — {counts}")
    unset = unset_variables(loaded)
    if unset:
        typer.echo(f"note: not set in this environment (needed when the bot runs): {', '.join(unset)}")
    for note in session_notes(loaded, datetime.now(UTC)):
        typer.echo(note)
    catalog = _catalog()
    for warning in language_warnings(read_mapping(chosen, str(chosen)), loaded, question_sets, catalog):
        typer.echo(f"warning: {warning}")


@app.command()
def schedule(
    client: Annotated[str | None, typer.Option("--client", help="Only this client [default: every client]")] = None,
    next_count: Annotated[int, typer.Option("--next", min=1, max=100, help="How many check-ins to list")] = 5,
    config: ConfigOption = None,
) -> None:
    """List each client's next check-ins, in their own time and in UTC.

    Pauses a client set themselves with the 'pause' command, and sessions recorded with `checkin session`, live in
    the database and are not shown; the bot itself takes both into account.
    """
    loaded, _ = _load(config_path(config))
    try:
        lines = schedule_report(loaded, datetime.now(UTC), client_id=client, count=next_count)
    except UnknownClientError as exc:
        typer.echo(f"checkin schedule: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    for line in lines:
        typer.echo(line)


@app.command()
def demo(
    config: ConfigOption = None,
    client: Annotated[
        str | None, typer.Option("--client", help="The client to play [default: the first in the config]")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Keep the demo's SQLite database in this file [default: a temporary file]"),
    ] = None,
) -> None:
    """Play one check-in in the terminal as a client, then see what their coach sees.

    Uses the config's people and question sets with the terminal standing in for Slack and Telegram, and a
    database of its own, so no tokens are needed and a real deployment's data is never touched. With a pipe
    on standard input it reads one answer per line and exits when the check-in is over.
    """
    chosen = config if config is not None else _demo_config_path()
    loaded, question_sets = _load(chosen)
    if not loaded.clients:
        typer.echo(f"{chosen}: the demo needs at least one client", err=True)
        raise typer.Exit(EXIT_INVALID)
    player = next((c for c in loaded.clients if c.id == client), None) if client else loaded.clients[0]
    if player is None:
        known = ", ".join(c.id for c in loaded.clients)
        typer.echo(f"unknown client '{client}'; the config has: {known}", err=True)
        raise typer.Exit(EXIT_INVALID)
    with tempfile.TemporaryDirectory(prefix="checkin-demo-") as scratch:
        database_path = db if db is not None else Path(scratch) / "demo.sqlite3"
        try:
            status = asyncio.run(
                run_demo(
                    config=loaded,
                    question_sets=question_sets,
                    texts=_catalog(),
                    client=player,
                    database_path=database_path,
                    clock=SystemClock(),
                    stdin=sys.stdin,
                    stdout=sys.stdout,
                )
            )
        except KeyboardInterrupt:
            typer.echo("\nDemo stopped.")
            status = EXIT_INTERRUPTED
    raise typer.Exit(status)


def _demo_config_path() -> Path:
    """``$CHECKIN_CONFIG`` or ./config.yaml when present, else the project's example config."""
    preferred = config_path(None)
    return preferred if preferred.exists() or os.environ.get(CONFIG_ENV) else EXAMPLE_CONFIG


@app.command()
def run(
    config: ConfigOption = None,
    console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="Use the terminal for every chat: messages are printed, 'CLIENT: text' lines answer as that client.",
        ),
    ] = False,
    pid_file: PidFileOption = None,
    log_format: Annotated[
        Literal["text", "json"] | None,
        typer.Option(
            "--log-format", envvar="CHECKIN_LOG_FORMAT", help="Log lines as text or JSON [default: the config's]"
        ),
    ] = None,
) -> None:
    """Run the bot: schedule check-ins, send reminders, hold conversations, alert coaches. Stops on SIGTERM or Ctrl-C.

    SIGHUP (or `checkin reload`) reloads the config file without a restart. Several replicas can run against
    one PostgreSQL database: each check-in and each message is sent once.
    """
    chosen = config_path(config)
    loaded, question_sets = _load(chosen)
    pid_path = pid_file_path(chosen, pid_file)
    adapters = None if console else _platform_adapters(loaded)
    url = _database_url(loaded)
    sealer = _sealer("run")
    observability = loaded.observability
    configure_logging(log_format or observability.log_format, observability.log_level, sys.stderr)
    if adapters is not None:
        _with_database_errors(
            url,
            serve(
                config=loaded,
                question_sets=question_sets,
                texts=_catalog(),
                database_url=url,
                clock=SystemClock(),
                adapters=adapters,
                config_path=chosen,
                pid_file=pid_path,
                sealer=sealer,
            ),
        )
        return
    _with_database_errors(
        url,
        serve_console(
            config=loaded,
            question_sets=question_sets,
            texts=_catalog(),
            database_url=url,
            clock=SystemClock(),
            stdin=sys.stdin,
            stdout=sys.stdout,
            config_path=chosen,
            pid_file=pid_path,
            sealer=sealer,
        ),
    )


def _sealer(command: str) -> Sealer:
    """The sealer ``CHECKIN_ENCRYPTION_KEY`` describes, or a one-line reason (never the key) to exit."""
    try:
        return Sealer.from_environment()
    except SealingKeyError as exc:
        typer.echo(f"checkin {command}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _platform_adapters(config: Config) -> dict[str, Adapter]:
    """The adapters for the configured platforms (Slack, Telegram or both), or a one-line reason to exit."""
    adapters: dict[str, Adapter] = {}
    if config.platforms.slack is not None:
        adapters["slack"] = _slack_adapter(config)
    if config.platforms.telegram is not None:
        adapters["telegram"] = _telegram_adapter(config)
    if not adapters:
        typer.echo(
            "checkin run: no chat platform is configured; add platforms.slack or platforms.telegram, "
            "or run with --console",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    return adapters


def _slack_adapter(config: Config) -> Adapter:
    slack = config.platforms.slack
    assert slack is not None
    # slack-bolt and slack-sdk are only imported where they are used
    from adapters.sdk_clients import SLACK_API_URL
    from adapters.slack import HttpSettings, SlackAdapter

    bot_token = _slack_secret("bot_token", slack.bot_token)
    api_url = slack.api_url or SLACK_API_URL
    if slack.mode == "http":
        assert slack.signing_secret is not None  # the config requires it in http mode
        http = slack.http
        settings = HttpSettings(http.listen, http.port, http.path) if http is not None else HttpSettings()
        secret = _slack_secret("signing_secret", slack.signing_secret)
        return SlackAdapter(bot_token, mode="http", signing_secret=secret, api_url=api_url, http=settings)
    assert slack.app_token is not None  # the config requires it in socket mode
    app_token = _slack_secret("app_token", slack.app_token)
    return SlackAdapter(bot_token, mode="socket", app_token=app_token, api_url=api_url)


def _slack_secret(field: str, value: str) -> str:
    try:
        return resolve_secret(value)
    except MissingSecretError as exc:
        typer.echo(f"platforms.slack.{field}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _telegram_adapter(config: Config) -> Adapter:
    telegram = config.platforms.telegram
    assert telegram is not None
    # python-telegram-bot is only imported where it is used
    from adapters.telegram import TelegramAdapter, WebhookSettings

    if telegram.webhook is None:
        return TelegramAdapter(_telegram_token(config), _telegram_api_url(config))
    webhook = telegram.webhook
    try:
        secret = resolve_secret(webhook.secret_token)
    except MissingSecretError as exc:
        typer.echo(f"platforms.telegram.webhook.secret_token: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        typer.echo(
            "platforms.telegram.webhook.secret_token: Telegram accepts 1 to 256 characters A-Z, a-z, 0-9, '_' "
            "and '-' only; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    settings = WebhookSettings(webhook.url, webhook.listen, webhook.port, secret)
    return TelegramAdapter(_telegram_token(config), _telegram_api_url(config), mode="webhook", webhook=settings)


def _telegram_token(config: Config) -> str:
    assert config.platforms.telegram is not None
    try:
        return resolve_secret(config.platforms.telegram.bot_token)
    except MissingSecretError as exc:
        typer.echo(f"platforms.telegram.bot_token: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _telegram_api_url(config: Config) -> str:
    from adapters.sdk_clients import TELEGRAM_API_URL

    assert config.platforms.telegram is not None
    return config.platforms.telegram.api_url or TELEGRAM_API_URL


@app.command()
def invite(
    person: Annotated[str, typer.Argument(help="The id of a client or coach in the config who uses Telegram.")],
    expires: Annotated[str, typer.Option("--expires", help="How long the link stays valid: 30m, 24h, 7d, 2w")] = "7d",
    config: ConfigOption = None,
) -> None:
    """Print a one-time Telegram link that connects PERSON's chat to the bot when they open it.

    The link works once and expires; send it to the person yourself (e-mail, a message). Opening it starts the
    bot in Telegram, which binds that chat to them and greets them.
    """
    loaded, _ = _load(config_path(config))
    kinds = {c.id: ("coach", c.telegram is not None) for c in loaded.coaches}
    kinds |= {c.id: ("client", c.telegram is not None) for c in loaded.clients}
    if person not in kinds:
        typer.echo(f"checkin invite: unknown person '{person}'{did_you_mean(person, list(kinds))}", err=True)
        raise typer.Exit(EXIT_INVALID)
    kind, on_telegram = kinds[person]
    if not on_telegram or loaded.platforms.telegram is None:
        typer.echo(f"checkin invite: {person} is not on Telegram in the config (add 'telegram: {{}}')", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        lifetime = TypeAdapter(Duration).validate_python(expires)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        typer.echo(f"checkin invite: --expires {expires}: {reason}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    token = secrets.token_urlsafe(24)  # 32 characters: well inside the 64 a /start parameter may have
    username = _bot_username(_telegram_token(loaded), _telegram_api_url(loaded))
    url = _database_url(loaded)
    _with_database_errors(url, _store_invite(url, loaded, token, kind, person, lifetime))
    typer.echo(f"https://t.me/{username}?start={token}")


def _bot_username(token: str, api_url: str) -> str:
    from adapters.telegram import fetch_bot_username  # python-telegram-bot is only imported where it is used

    try:
        return asyncio.run(fetch_bot_username(token, api_url))
    except ConnectionError as exc:
        typer.echo(f"checkin invite: {exc}", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None


@asynccontextmanager
async def _open_database(url: str, command: str) -> AsyncIterator[Database]:
    """The configured database, migrated, reading and writing free text with ``CHECKIN_ENCRYPTION_KEY``."""
    database = Database(url, sealer=_sealer(command))
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


@asynccontextmanager
async def _people_transaction(url: str, config: Config, command: str) -> AsyncIterator[tuple[AsyncSession, datetime]]:
    """A transaction on the configured database with the config's people in it, for one admin command.

    The bot mirrors people into the database when it starts; an admin command may run before it ever has.
    """
    async with _open_database(url, command) as database, database.transaction() as session:
        now = datetime.now(UTC)
        await people.sync_people(session, *people_from_config(config), now)
        yield session, now


async def _store_invite(url: str, config: Config, token: str, kind: str, person: str, lifetime: timedelta) -> None:
    async with _people_transaction(url, config, "invite") as (session, now):
        await invites.create_telegram_invite(
            session, token, PersonKind.COACH if kind == "coach" else PersonKind.CLIENT, person, now + lifetime
        )


@app.command()
def trend(
    client: Annotated[str, typer.Argument(help="The client's id in the config.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="PNG file to write [default: ./CLIENT-trend.png]")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Draw a client's relationship answers over time as a PNG: the floor, missed check-ins and alerts marked."""
    loaded, question_sets = _load(config_path(config))
    person = next((c for c in loaded.clients if c.id == client), None)
    if person is None:
        typer.echo(f"checkin trend: {UnknownClientError(client, [c.id for c in loaded.clients])}", err=True)
        raise typer.Exit(EXIT_INVALID)
    url = _database_url(loaded)
    history, alerts = _with_database_errors(url, _read_trend(url, client))
    from bot.signals.charts import render_trend  # matplotlib is slow to import: only `trend` pays

    question_set = question_sets[person.question_set]
    png = render_trend(
        person.name, history, question_set=question_set, floor=loaded.alerts.low_score_floor, alerts_at=alerts
    )
    target = out if out is not None else Path(f"{client}-trend.png")
    try:
        target.write_bytes(png)
    except OSError as exc:
        typer.echo(f"checkin trend: cannot write {target}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(str(target))
    questions = relationship_questions(question_set)
    indexed = [index for entry in history if (index := alliance_index(entry, questions)) is not None]
    latest = f"latest alliance index {indexed[-1]:.1f}" if indexed else "no alliance index yet"
    typer.echo(f"{person.name}: {_plural(len(history), 'check-in')}, {latest}")


@app.command()
def session(
    client: Annotated[str, typer.Argument(help="The client's id in the config.")],
    day: Annotated[str, typer.Argument(metavar="DATE", help="The session's date, YYYY-MM-DD, in the client's time.")],
    config: ConfigOption = None,
) -> None:
    """Record a coaching session, for cadences that check in a few days after each session."""
    loaded, _ = _load(config_path(config))
    if not any(c.id == client for c in loaded.clients):
        typer.echo(f"checkin session: {UnknownClientError(client, [c.id for c in loaded.clients])}", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        typer.echo(f"checkin session: '{day}' is not a date; write it as YYYY-MM-DD", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    url = _database_url(loaded)
    added = _with_database_errors(url, _record_session(url, loaded, client, when))
    typer.echo(f"{client}: session on {when:%a %Y-%m-%d} " + ("recorded" if added else "was already recorded"))


async def _record_session(url: str, config: Config, client_id: str, day: date) -> bool:
    async with _people_transaction(url, config, "session") as (session, now):
        return await coaching_sessions.record_session(session, client_id, day, "admin", now)


async def _read_trend(url: str, client_id: str) -> tuple[list[HistoryEntry], list[datetime]]:
    async with _open_database(url, "trend") as database, database.session() as session:
        history = await client_history(session, client_id)
        since = history[0].at if history else None
        return history, await alert_times(session, client_id, since=since)


@app.command()
def replay(
    history: Annotated[Path, typer.Argument(help="History file: one JSON object per check-in per line.")],
    config: ConfigOption = None,
) -> None:
    """Replay a history file through the detectors and the alert policy; print one JSON line per alert.

    Use it to tune the alert thresholds in the config on real data. Without a config file (no --config,
    $CHECKIN_CONFIG or ./config.yaml) the default thresholds and question set are used. Malformed lines are
    reported on standard error and skipped; the exit status is then 1.
    """
    chosen = config_path(config)
    texts = load_texts()
    if config is None and not os.environ.get(CONFIG_ENV) and not chosen.exists():
        setup = ReplaySetup(Alerts(), load_builtin_question_sets(), {}, texts)
    else:
        loaded, question_sets = _load(chosen)
        setup = ReplaySetup.from_config(loaded, question_sets, texts)
    try:
        phrases = load_risk_phrases()
        with history.open("rb") as lines:
            result = replay_history(lines, setup, phrases)
    except RiskPhrasesError as exc:
        typer.echo(f"checkin replay: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as exc:
        typer.echo(f"checkin replay: {history}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    for alert in result.alerts:
        typer.echo(json.dumps(alert, ensure_ascii=False))
    for problem in result.problems:
        typer.echo(f"{history}:{problem.line}: {problem.message}; line skipped", err=True)
    if result.problems:
        raise typer.Exit(EXIT_MALFORMED_LINES)


@app.command()
def rekey(
    config: ConfigOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction")] = DEFAULT_BATCH,
) -> None:
    """Encrypt the stored free text with the first key in $CHECKIN_ENCRYPTION_KEY.

    Plain text (written before a key was set) is encrypted, text encrypted with an older key is re-encrypted,
    text already under the first key is left alone: running it twice changes nothing, and it can run while the
    bot does.

    To rotate the key: generate a new one with
    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())",
    set CHECKIN_ENCRYPTION_KEY=NEW,OLD and restart the bot (it then encrypts with NEW and still reads OLD),
    run `checkin rekey`, then set CHECKIN_ENCRYPTION_KEY=NEW and restart again.
    """
    loaded, _ = _load(config_path(config))
    sealer = _sealer("rekey")
    if not sealer.enabled:
        typer.echo(f"checkin rekey: {KEY_ENV} is not set, so there is no key to encrypt with", err=True)
        raise typer.Exit(EXIT_INVALID)
    url = _database_url(loaded)
    reports = _with_database_errors(url, _rekey(url, sealer, batch))
    for report in reports:
        typer.echo(
            f"{report.name}: {report.sealed} encrypted, {report.resealed} re-encrypted with the new key, "
            f"{report.current} already current"
        )
    unreadable = sum(report.unreadable for report in reports)
    if unreadable:
        typer.echo(
            f"checkin rekey: {_plural(unreadable, 'value')} could not be decrypted with any key in {KEY_ENV}; "
            "add the key they were encrypted with after the new one and run it again",
            err=True,
        )
        raise typer.Exit(EXIT_UNREADABLE)


async def _rekey(url: str, sealer: Sealer, batch: int) -> list[FieldReport]:
    database = Database(url, sealer=sealer)
    await database.start()
    try:
        return await rekey_database(database, batch=batch)
    finally:
        await database.stop()


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database named in the config to the latest schema (the bot also does this on start)."""
    loaded, _ = _load(config_path(config))
    database = Database(_database_url(loaded))

    async def upgrade() -> str | None:
        await database.start()
        try:
            return await database.current_revision()
        finally:
            await database.stop()

    revision = _with_database_errors(database.url.render_as_string(hide_password=True), upgrade())
    typer.echo(f"{database.url.render_as_string(hide_password=True)}: schema at revision {revision}")


def _database_url(config: Config) -> str:
    try:
        return resolve_secret(config.database.url)
    except MissingSecretError as exc:
        typer.echo(f"database.url: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _with_database_errors(url: str, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; an unreachable or refusing database is reported in one line, not a traceback.

    So is a health and metrics port the bot cannot listen on (``observability.http``), and a chat platform
    that refuses the bot's token at start.
    """
    try:
        return asyncio.run(work)
    except (ListenError, AdapterStartError) as exc:
        typer.echo(f"checkin: {exc}", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    except (OSError, SQLAlchemyError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.echo(f"database {shown}: {reason}", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None


def _plural(count: int, noun: str) -> str:
    suffix = "es" if noun.endswith("h") else "s"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}{suffix}"


# ---- operating: status, send-now, pause, resume, export, forget, purge, reload ----------------------------

ClientArgument = Annotated[str, typer.Argument(help="The client's id in the config.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")]


@asynccontextmanager
async def _admin_runtime(url: str, config: Config, question_sets: dict[str, QuestionSet]) -> AsyncIterator[Runtime]:
    """The bot's runtime without adapters or sending: what it queues, the running bot's outbox sends."""
    runtime = Runtime(
        config=config,
        question_sets=question_sets,
        texts=_catalog(),
        database=Database(url, sealer=_sealer("send-now")),
        adapters={},
        clock=SystemClock(),
        worker_id=f"admin:{os.getpid()}",
        outbox_loop=False,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def _known_client(command: str, config: Config, client: str) -> ClientConfig:
    found = next((c for c in config.clients if c.id == client), None)
    if found is None:
        typer.echo(f"checkin {command}: {UnknownClientError(client, [c.id for c in config.clients])}", err=True)
        raise typer.Exit(EXIT_INVALID)
    return found


@app.command()
def status(
    config: ConfigOption = None,
    coach: Annotated[str | None, typer.Option("--coach", help="Only this coach's clients.")] = None,
) -> None:
    """A table of clients: state, last check-in, response rate, relationship trend and open alerts.

    It shows how the check-ins are going, never what anybody answered: that is for the client's coach.
    """
    loaded, question_sets = _load(config_path(config))
    if coach is not None and not any(c.id == coach for c in loaded.coaches):
        known = ", ".join(c.id for c in loaded.coaches)
        typer.echo(f"checkin status: no coach '{coach}' in the config (coaches: {known})", err=True)
        raise typer.Exit(EXIT_INVALID)
    url = _database_url(loaded)

    async def read() -> list[ClientStatus]:
        # Read only: the running bot's people, not a config file it may not have reloaded yet.
        async with _open_database(url, "status") as database, database.session() as session:
            return await client_statuses(session, question_sets, datetime.now(UTC), coach_id=coach)

    rows = _with_database_errors(url, read())
    header = ("CLIENT", "COACH", "STATE", "LAST CHECK-IN", "REPLIED", "TREND", "OPEN ALERTS")
    table = [header] + [
        (
            row.id,
            row.coach_id,
            f"paused to {_local_day(row.paused_until, row.timezone)}" if row.paused_until else row.state,
            f"{row.last_checkin_at:%Y-%m-%d} {row.last_checkin_status}" if row.last_checkin_at else "-",
            f"{row.response_rate:.0%}" if row.response_rate is not None else "-",
            row.arrow,
            str(row.open_alerts),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _local_day(moment: datetime, timezone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d}"


@app.command("send-now")
def send_now(client: ClientArgument, config: ConfigOption = None) -> None:
    """Start a check-in for a client now; the running bot sends it within a second or two."""
    loaded, question_sets = _load(config_path(config))
    _known_client("send-now", loaded, client)
    url = _database_url(loaded)

    async def start() -> tuple[int | None, str]:
        async with _admin_runtime(url, loaded, question_sets) as runtime:
            now = datetime.now(UTC)
            checkin_id = await runtime.start_checkin(client, now)
            async with runtime.database.session() as session:
                row = await session.get(ClientRow, client)
                return checkin_id, client_state(row, now) if row is not None else "removed"

    checkin_id, state = _with_database_errors(url, start())
    if checkin_id is None:
        reason = "has no address yet (no Telegram invite redeemed)" if state == "active" else f"is {state}"
        typer.echo(f"checkin send-now: no check-in started: {client} {reason}", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"{client}: check-in {checkin_id} queued; the running bot sends it")


@app.command()
def pause(
    client: ClientArgument,
    until: Annotated[
        str, typer.Option("--until", metavar="DATE", help="Back on this day (YYYY-MM-DD, client's time).")
    ],
    config: ConfigOption = None,
) -> None:
    """Pause a client's check-ins until a date; an open check-in is left to expire."""
    loaded, _ = _load(config_path(config))
    person = _known_client("pause", loaded, client)
    try:
        day = date.fromisoformat(until)
    except ValueError:
        typer.echo(f"checkin pause: '{until}' is not a date; write it as YYYY-MM-DD", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    back = datetime.combine(day, time.min, person.zone)
    if back <= datetime.now(UTC):
        typer.echo(f"checkin pause: {day} is not in the future", err=True)
        raise typer.Exit(EXIT_INVALID)
    url = _database_url(loaded)

    async def set_pause() -> None:
        async with _people_transaction(url, loaded, "pause") as (session, _):
            await clients.set_client_pause(session, client, back)

    _with_database_errors(url, set_pause())
    typer.echo(f"{client}: paused until {day:%a %Y-%m-%d}")


@app.command()
def resume(client: ClientArgument, config: ConfigOption = None) -> None:
    """End a client's pause. A client who sent "stop" themselves can only restart by sending "resume"."""
    loaded, _ = _load(config_path(config))
    _known_client("resume", loaded, client)
    url = _database_url(loaded)

    async def clear() -> str:
        async with _people_transaction(url, loaded, "resume") as (session, now):
            row = await session.get(ClientRow, client)
            assert row is not None  # synced from the config just now
            state = client_state(row, now)
            if state == "paused":
                await clients.set_client_pause(session, client, None)
            return state

    state = _with_database_errors(url, clear())
    if state == "stopped":
        typer.echo(f"checkin resume: {client} stopped the check-ins themselves; only they can restart them", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"{client}: " + ("resumed" if state == "paused" else f"not paused ({state})"))


@app.command()
def export(
    client: Annotated[str, typer.Argument(help="The client's id (also one no longer in the config).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="json (everything) or csv (one row per answer).")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write [default: standard output].")] = None,
    config: ConfigOption = None,
) -> None:
    """Export everything stored about one client: profile, goals, sessions, check-ins with answers, alerts."""
    if fmt not in ("json", "csv"):
        typer.echo(f"checkin export: --format must be json or csv, not '{fmt}'", err=True)
        raise typer.Exit(EXIT_INVALID)
    loaded, _ = _load(config_path(config))
    url = _database_url(loaded)

    async def read() -> dict[str, Any] | None:
        async with _open_database(url, "export") as database, database.session() as session:
            try:
                return await admin.export_client(session, client)
            except LookupError:
                return None

    exported = _with_database_errors(url, read())
    if exported is None:
        typer.echo(f"checkin export: the database has nothing about a client '{client}'", err=True)
        raise typer.Exit(EXIT_INVALID)
    text = json.dumps(exported, ensure_ascii=False, indent=2) + "\n" if fmt == "json" else admin.export_csv(exported)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"checkin export: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"{client}: exported to {out}")


@app.command()
def forget(
    client: Annotated[str, typer.Argument(help="The client's id (also one no longer in the config).")],
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Erase a client's answers, check-ins, alerts, sessions, messages and chat binding. Cannot be undone.

    A client still in the config keeps an empty record and is checked in with again at their next slot;
    remove them from the config (and reload) first to end that too.
    """
    loaded, _ = _load(config_path(config))
    in_config = any(c.id == client for c in loaded.clients)
    if not yes and not typer.confirm(f"Erase everything stored about {client}? This cannot be undone.", default=False):
        typer.echo("nothing erased")
        raise typer.Exit(1)
    url = _database_url(loaded)

    async def erase() -> admin.Erased | None:
        async with _open_database(url, "forget") as database, database.transaction() as session:
            try:
                return await admin.forget_client(session, client, keep_client=in_config)
            except LookupError:
                return None

    erased = _with_database_errors(url, erase())
    if erased is None:
        typer.echo(f"checkin forget: the database has nothing about a client '{client}'", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(
        f"{client}: erased {_plural(erased.checkins, 'check-in')}, {_plural(erased.answers, 'answer')}, "
        f"{_plural(erased.alerts, 'alert')}, {_plural(erased.messages, 'message')}"
    )
    if in_config:
        typer.echo(f"note: {client} is still in the config and will be checked in with again; remove them there")


@app.command()
def purge(
    older_than: Annotated[int, typer.Option("--older-than", metavar="DAYS", min=1, help="Age in days.")],
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete closed check-ins and answers, alerts, sent messages and old records older than DAYS.

    The bot does this itself every day when the config sets retention_days.
    """
    loaded, _ = _load(config_path(config))
    if not yes and not typer.confirm(f"Delete everything older than {older_than} days?", default=False):
        typer.echo("nothing deleted")
        raise typer.Exit(1)
    url = _database_url(loaded)

    async def run_purge() -> admin.Purged:
        async with _open_database(url, "purge") as database, database.transaction() as session:
            return await admin.purge_older_than(session, datetime.now(UTC) - timedelta(days=older_than))

    purged = _with_database_errors(url, run_purge())
    typer.echo(
        f"purged {_plural(purged.checkins, 'check-in')}, {_plural(purged.answers, 'answer')}, "
        f"{_plural(purged.alerts, 'alert')}, {_plural(purged.messages, 'message')}, "
        f"{_plural(purged.events, 'event record')}, {_plural(purged.invites, 'invite')}"
    )


@app.command()
def reload(
    config: ConfigOption = None,
    pid_file: PidFileOption = None,
    pid: Annotated[int | None, typer.Option("--pid", help="Signal this process instead of the pid file's.")] = None,
) -> None:
    """Check the config file and, if it is sound, tell the running bot to load it (SIGHUP).

    An invalid file is refused here with its problems, and the bot keeps running on its current config.
    """
    chosen = config_path(config)
    _load(chosen)
    target = pid if pid is not None else _read_pid(pid_file_path(chosen, pid_file))
    try:
        os.kill(target, signal.SIGHUP)
    except ProcessLookupError:
        typer.echo(f"checkin reload: no process {target}; is the bot running?", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    except PermissionError:
        typer.echo(f"checkin reload: not allowed to signal process {target}", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    typer.echo(f"{chosen}: valid; reload signalled to process {target}")


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        typer.echo(f"checkin reload: no usable pid file at {path}; is the bot running? (or give --pid)", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE) from None


def main() -> None:
    app()
