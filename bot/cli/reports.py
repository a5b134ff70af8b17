"""Commands that read and report, changing nothing: validate, schedule, status, trend, replay."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import (
    CONFIG_ENV,
    ConfigOption,
    catalog,
    config_path,
    database_url,
    fail,
    known_client,
    load,
    load_with_document,
    open_database,
    plural,
    with_database_errors,
    write_private,
)
from bot.coaching.status import ClientStatus, client_statuses
from bot.config import unset_variables
from bot.config.alerts import Alerts
from bot.config.language_report import language_warnings
from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.scheduling.client_schedule import UnknownClientError
from bot.scheduling.report import quiet_hour_warnings, schedule_report, session_notes
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.detectors.words import RiskPhrasesError, load_risk_phrases
from bot.signals.history import AlertMark, HistoryEntry
from bot.signals.replay import ReplaySetup
from bot.signals.replay import replay as replay_history
from bot.store.history import alert_marks, client_history

#: Exit status of `checkin replay` when some lines of the history file were malformed and skipped.
EXIT_MALFORMED_LINES = 1


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(schedule)
    app.command()(status)
    app.command()(trend)
    app.command()(replay)


def validate(
    path: Annotated[Path | None, typer.Argument(help="Configuration file (same as --config).")] = None,
    config: ConfigOption = None,
) -> None:
    """Check a configuration file and its question sets; list every problem with its line.

    Warnings (a client's language without texts, a translation that lacks some, a cadence override whose time
    quiet hours move) do not change the exit status: the bot runs, those clients read English, and quiet hours
    hold.
    """
    if path is not None and config is not None:
        fail("checkin validate: give the file as an argument or with --config, not both")
    chosen = config_path(path or config)
    loaded, question_sets, document = load_with_document(chosen)
    counts = ", ".join(
        plural(len(items), noun)
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
    texts = catalog()
    for warning in quiet_hour_warnings(loaded, document, datetime.now(UTC)):
        typer.echo(f"warning: {warning}")
    for warning in language_warnings(document, loaded, question_sets, texts):
        typer.echo(f"warning: {warning}")


def schedule(
    client: Annotated[str | None, typer.Option("--client", help="Only this client [default: every client]")] = None,
    next_count: Annotated[int, typer.Option("--next", min=1, max=100, help="How many check-ins to list")] = 5,
    config: ConfigOption = None,
) -> None:
    """List each client's next check-ins, in their own time and in UTC.

    Pauses a client set themselves with the 'pause' command, and sessions recorded with `.venv/bin/checkin
    session`, live in the database and are not shown; the bot itself takes both into account.
    """
    loaded, _ = load(config_path(config))
    try:
        lines = schedule_report(loaded, datetime.now(UTC), client_id=client, count=next_count)
    except UnknownClientError as exc:
        fail(f"checkin schedule: {exc}")
    for line in lines:
        typer.echo(line)


def status(
    config: ConfigOption = None,
    coach: Annotated[str | None, typer.Option("--coach", help="Only this coach's clients.")] = None,
) -> None:
    """A table of clients: state, last check-in, response rate, relationship trend and open alerts.

    It shows how the check-ins are going, never what anybody answered: that is for the client's coach.
    """
    loaded, question_sets = load(config_path(config))
    if coach is not None and not any(c.id == coach for c in loaded.coaches):
        known = ", ".join(c.id for c in loaded.coaches)
        fail(f"checkin status: no coach '{coach}' in the config (coaches: {known})")
    url = database_url(loaded)

    async def read() -> list[ClientStatus]:
        # Read only: the running bot's people, not a config file it may not have reloaded yet.
        async with open_database(url, "status") as database, database.session() as session:
            return await client_statuses(session, question_sets, datetime.now(UTC), coach_id=coach)

    rows = with_database_errors(url, read())
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


def trend(
    client: Annotated[str, typer.Argument(help="The client's id in the config.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="PNG file to write [default: ./CLIENT-trend.png]")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Draw a client's relationship answers over time as a PNG: the floor, missed check-ins and alerts marked."""
    loaded, question_sets = load(config_path(config))
    person = known_client("trend", loaded, client)
    url = database_url(loaded)
    history, alerts = with_database_errors(url, _read_trend(url, client))
    from bot.signals.charts import render_trend  # matplotlib is slow to import: only `trend` pays

    question_set = question_sets[person.question_set]
    png = render_trend(
        person.name,
        history,
        question_set=question_set,
        floor=loaded.alerts.low_score_floor,
        texts=load_texts(),
        alerts=alerts,
    )
    target = out if out is not None else Path(f"{client}-trend.png")
    try:
        write_private(target, png)
    except OSError as exc:
        fail(f"checkin trend: cannot write {target}: {exc.strerror or exc}")
    typer.echo(str(target))
    questions = relationship_questions(question_set)
    indexed = [index for entry in history if (index := alliance_index(entry, questions)) is not None]
    latest = f"latest alliance index {indexed[-1]:.1f}" if indexed else "no alliance index yet"
    typer.echo(f"{person.name}: {plural(len(history), 'check-in')}, {latest}")


async def _read_trend(url: str, client_id: str) -> tuple[list[HistoryEntry], list[AlertMark]]:
    async with open_database(url, "trend") as database, database.session() as session:
        history = await client_history(session, client_id)
        since = history[0].at if history else None
        return history, await alert_marks(session, client_id, since=since)


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
        loaded, question_sets = load(chosen)
        setup = ReplaySetup.from_config(loaded, question_sets, texts)
    try:
        phrases = load_risk_phrases()
        with history.open("rb") as lines:
            result = replay_history(lines, setup, phrases)
    except RiskPhrasesError as exc:
        fail(f"checkin replay: {exc}")
    except OSError as exc:
        fail(f"checkin replay: {history}: {exc.strerror or exc}")
    for alert in result.alerts:
        typer.echo(json.dumps(alert, ensure_ascii=False))
    for problem in result.problems:
        typer.echo(f"{history}:{problem.line}: {problem.message}; line skipped", err=True)
    if result.problems:
        raise typer.Exit(EXIT_MALFORMED_LINES)
