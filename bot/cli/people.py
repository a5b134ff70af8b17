"""Commands about one person at a time: pause, resume, session, send-now (invites: ``bot.cli.invites``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from typing import Annotated

import typer

from bot.app.builder import Bot, build_bot
from bot.cli.common import (
    ClientArgument,
    ConfigOption,
    catalog,
    config_path,
    database_url,
    fail,
    known_client,
    load,
    people_transaction,
    sealer,
    with_database_errors,
)
from bot.coaching.status import client_state
from bot.config import Config
from bot.conversation.questions import QuestionSet
from bot.store import Database, clients, coaching_sessions
from bot.timing.clock import SystemClock


def register(app: typer.Typer) -> None:
    app.command("send-now")(send_now)
    app.command()(pause)
    app.command()(resume)
    app.command()(session)


@asynccontextmanager
async def _admin_runtime(url: str, config: Config, question_sets: dict[str, QuestionSet]) -> AsyncIterator[Bot]:
    """The bot's runtime without adapters or sending: what it queues, the running bot's outbox sends."""
    runtime = build_bot(
        config=config,
        question_sets=question_sets,
        texts=catalog(),
        database=Database(url, sealer=sealer("send-now")),
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


def send_now(client: ClientArgument, config: ConfigOption = None) -> None:
    """Start a check-in for a client now; the running bot sends it within a second or two."""
    loaded, question_sets = load(config_path(config))
    known_client("send-now", loaded, client)
    url = database_url(loaded)

    async def start() -> tuple[int | None, str]:
        async with _admin_runtime(url, loaded, question_sets) as runtime:
            now = datetime.now(UTC)
            checkin_id = await runtime.lifecycle.start_checkin(client, now)
            async with runtime.database.session() as session:
                row = await clients.client_by_id(session, client)
                return checkin_id, client_state(row, now) if row is not None else "removed"

    checkin_id, state = with_database_errors(url, start())
    if checkin_id is None:
        reason = "has no address yet (no Telegram invite redeemed)" if state == "active" else f"is {state}"
        fail(f"checkin send-now: no check-in started: {client} {reason}")
    typer.echo(f"{client}: check-in {checkin_id} queued; the running bot sends it")


def pause(
    client: ClientArgument,
    until: Annotated[
        str, typer.Option("--until", metavar="DATE", help="Back on this day (YYYY-MM-DD, client's time).")
    ],
    config: ConfigOption = None,
) -> None:
    """Pause a client's check-ins until a date; an open check-in is left to expire."""
    loaded, _ = load(config_path(config))
    person = known_client("pause", loaded, client)
    try:
        day = date.fromisoformat(until)
    except ValueError:
        fail(f"checkin pause: '{until}' is not a date; write it as YYYY-MM-DD")
    back = datetime.combine(day, time.min, person.zone)
    if back <= datetime.now(UTC):
        fail(f"checkin pause: {day} is not in the future")
    url = database_url(loaded)

    async def set_pause() -> None:
        async with people_transaction(url, loaded, "pause") as (session, _):
            await clients.set_client_pause(session, client, back)

    with_database_errors(url, set_pause())
    typer.echo(f"{client}: paused until {day:%a %Y-%m-%d}")


def resume(client: ClientArgument, config: ConfigOption = None) -> None:
    """End a client's pause. A client who sent "stop" themselves can only restart by sending "resume"."""
    loaded, _ = load(config_path(config))
    known_client("resume", loaded, client)
    url = database_url(loaded)

    async def clear() -> str:
        async with people_transaction(url, loaded, "resume") as (session, now):
            row = await clients.client_by_id(session, client)
            assert row is not None  # synced from the config just now
            state = client_state(row, now)
            if state == "paused":
                await clients.set_client_pause(session, client, None)
            return state

    state = with_database_errors(url, clear())
    if state == "stopped":
        fail(f"checkin resume: {client} stopped the check-ins themselves; only they can restart them")
    typer.echo(f"{client}: " + ("resumed" if state == "paused" else f"not paused ({state})"))


def session(
    client: ClientArgument,
    day: Annotated[str, typer.Argument(metavar="DATE", help="The session's date, YYYY-MM-DD, in the client's time.")],
    config: ConfigOption = None,
) -> None:
    """Record a coaching session, for cadences that check in a few days after each session."""
    loaded, _ = load(config_path(config))
    known_client("session", loaded, client)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        fail(f"checkin session: '{day}' is not a date; write it as YYYY-MM-DD")
    url = database_url(loaded)
    added = with_database_errors(url, _record_session(url, loaded, client, when))
    typer.echo(f"{client}: session on {when:%a %Y-%m-%d} " + ("recorded" if added else "was already recorded"))


async def _record_session(url: str, config: Config, client_id: str, day: date) -> bool:
    async with people_transaction(url, config, "session") as (session, now):
        return await coaching_sessions.record_session(session, client_id, day, "admin", now)
