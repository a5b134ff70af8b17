"""Commands that run the bot: run, reload (tell a running bot to load its config again) and demo."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import typer

from bot.app.demo import run_demo
from bot.app.platforms import PlatformSetupError, platform_adapters
from bot.app.serve import serve, serve_console
from bot.cli.bot_process import running_bot
from bot.cli.common import (
    CONFIG_ENV,
    EXIT_UNAVAILABLE,
    ConfigOption,
    catalog,
    config_path,
    database_url,
    fail,
    load,
    sealer,
    with_database_errors,
)
from bot.config import Config
from bot.contract.adapter import Adapter
from bot.observability.logs import configure_logging
from bot.timing.clock import SystemClock

#: The demo's fallback when there is no config of one's own: the example beside the source tree.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.yaml"
#: Exit status after Ctrl-C, as shells report it (128 + SIGINT).
EXIT_INTERRUPTED = 130
PID_FILE_ENV = "CHECKIN_PID_FILE"

PidFileOption = Annotated[
    Path | None,
    typer.Option(
        "--pid-file",
        help=f"Where `run` writes its process id for `reload` [default: ${PID_FILE_ENV}, else CONFIG.pid]",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(reload)
    app.command()(demo)


def pid_file_path(config: Path, explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The pid file `run` writes and `reload` reads: the option, else ``$CHECKIN_PID_FILE``, else beside the config."""
    if explicit is not None:
        return explicit
    from_env = (os.environ if environ is None else environ).get(PID_FILE_ENV)
    return Path(from_env) if from_env else config.with_name(f"{config.name}.pid")


def run(
    config: ConfigOption = None,
    console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="Use the terminal for every chat: messages are printed, 'ID: text' lines speak as that person.",
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

    SIGHUP (or `.venv/bin/checkin reload`) reloads the config file without a restart. Several replicas can run
    against one PostgreSQL database: each check-in and each message is sent once.
    """
    chosen = config_path(config)
    loaded, question_sets = load(chosen)
    pid_path = pid_file_path(chosen, pid_file)
    adapters = None if console else _platform_adapters(loaded)
    url = database_url(loaded)
    seal = sealer("run")
    observability = loaded.observability
    configure_logging(log_format or observability.log_format, observability.log_level, sys.stderr)
    if adapters is not None:
        with_database_errors(
            url,
            serve(
                config=loaded,
                question_sets=question_sets,
                texts=catalog(),
                database_url=url,
                clock=SystemClock(),
                adapters=adapters,
                config_path=chosen,
                pid_file=pid_path,
                sealer=seal,
            ),
        )
        return
    with_database_errors(
        url,
        serve_console(
            config=loaded,
            question_sets=question_sets,
            texts=catalog(),
            database_url=url,
            clock=SystemClock(),
            stdin=sys.stdin,
            stdout=sys.stdout,
            config_path=chosen,
            pid_file=pid_path,
            sealer=seal,
        ),
    )


def _platform_adapters(config: Config) -> dict[str, Adapter]:
    """The configured platforms' adapters, or a one-line reason to exit."""
    try:
        adapters = platform_adapters(config)
    except PlatformSetupError as exc:
        fail(str(exc))
    if not adapters:
        fail(
            "checkin run: no chat platform is configured; add platforms.slack or platforms.telegram, "
            "or use the terminal: .venv/bin/checkin run --console"
        )
    return adapters


def reload(
    config: ConfigOption = None,
    pid_file: PidFileOption = None,
    pid: Annotated[int | None, typer.Option("--pid", help="Signal this process instead of the pid file's.")] = None,
) -> None:
    """Check the config file and, if it is sound, tell the running bot to load it (SIGHUP).

    An invalid file is refused here with its problems, and the bot keeps running on its current config.
    """
    chosen = config_path(config)
    load(chosen)
    target = pid if pid is not None else _read_pid(pid_file_path(chosen, pid_file))
    if target <= 0:
        fail(f"checkin reload: {target} is not a process id", EXIT_UNAVAILABLE)
    if not running_bot(target, chosen):
        fail(
            f"checkin reload: process {target} is not `checkin run` with this config; is the pid file stale? "
            "(or name the bot's process: .venv/bin/checkin reload --pid PID)",
            EXIT_UNAVAILABLE,
        )
    try:
        os.kill(target, signal.SIGHUP)
    except ProcessLookupError:
        fail(f"checkin reload: no process {target}; is the bot running?", EXIT_UNAVAILABLE)
    except PermissionError:
        fail(f"checkin reload: not allowed to signal process {target}", EXIT_UNAVAILABLE)
    typer.echo(f"{chosen}: valid; reload signalled to process {target}")


def _read_pid(path: Path) -> int:
    try:
        pid = int(path.read_text(encoding="ascii").strip())
        if pid <= 0:  # kill(-1) signals every process the user may, kill(0) the whole process group
            raise ValueError(pid)
        return pid
    except (OSError, ValueError):
        fail(
            f"checkin reload: no usable pid file at {path}; is the bot running? "
            "(or name its process: .venv/bin/checkin reload --pid PID)",
            EXIT_UNAVAILABLE,
        )


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
    loaded, question_sets = load(chosen)
    if not loaded.clients:
        fail(f"{chosen}: the demo needs at least one client")
    player = next((c for c in loaded.clients if c.id == client), None) if client else loaded.clients[0]
    if player is None:
        known = ", ".join(c.id for c in loaded.clients)
        fail(f"unknown client '{client}'; the config has: {known}")
    try:
        status = asyncio.run(
            run_demo(
                config=loaded,
                question_sets=question_sets,
                texts=catalog(),
                client=player,
                database_path=db,
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
