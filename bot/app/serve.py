"""`checkin run`: the long-running bot, assembled and stopped in one visible order.

Start: database (migrated) and people, adapters, outbox worker, the health and metrics server and the coach's
dashboard when configured (health answering 503 until the scheduler runs), then the scheduler, which first
catches up on slots missed while the bot was down. Stop: the scheduler first (nothing new is dispatched), the
web servers, then the runtime (adapters stop receiving, the outbox worker stops, the database closes). SIGTERM
and SIGINT stop it.

SIGHUP reloads the config file: a file with problems is refused (each problem logged) and the running config
stays; a valid one is synced into the database and the client jobs are planned anew. Conversations in
progress and history are untouched, since both live in the database, not in the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TextIO

from adapters.console import ConsoleAdapter
from bot.app.builder import Bot, build_bot
from bot.app.stand_in import standing_in
from bot.app.web_servers import web_servers
from bot.config import Config, ConfigError, load_config
from bot.config.question_sets import load_question_sets
from bot.contract.adapter import Adapter
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog
from bot.delivery.ratelimit import DEFAULT_RATE_LIMITS, with_overrides
from bot.scheduling.dispatch import Dispatcher
from bot.scheduling.scheduler import Scheduler
from bot.signals import drawing
from bot.store import Database
from bot.store.sealing import PLAIN, Sealer
from bot.timing.clock import Clock

log = logging.getLogger(__name__)


def keep_out_of_collections() -> None:
    """Put every object alive now beyond the garbage collector's full collections (``gc.freeze``).

    At 10,000 clients the config, the question sets and the imported modules are well over a million objects
    that live as long as the process. Each full collection walked all of them: at start-up that was a noticeable
    share of the time, and afterwards it was most of the scheduler sweep's longest hold on the event loop. Frozen
    objects are still freed once nothing refers to them (a replaced config after a reload); only reference
    cycles among them would stay, and long-lived objects are not garbage to collect. ``serve`` unfreezes them
    when it returns, for a process (a test) that goes on after it.
    """
    gc.freeze()


def worker_id() -> str:
    """Names this process in outbox leases, so an operator can tell which replica held a row."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve_console(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: TextCatalog,
    database_url: str,
    clock: Clock,
    stdin: TextIO,
    stdout: TextIO,
    config_path: Path | None = None,
    pid_file: Path | None = None,
    sealer: Sealer = PLAIN,
) -> None:
    """Run until SIGTERM or SIGINT with the terminal standing in for every chat platform."""
    console = ConsoleAdapter(stdout, source=stdin)
    await serve(
        config=config,
        question_sets=question_sets,
        texts=texts,
        database_url=database_url,
        clock=clock,
        adapters={"console": console},
        address_platform="console",
        config_path=config_path,
        pid_file=pid_file,
        sealer=sealer,
    )


async def serve(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: TextCatalog,
    database_url: str,
    clock: Clock,
    adapters: Mapping[str, Adapter],
    address_platform: str | None = None,
    config_path: Path | None = None,
    pid_file: Path | None = None,
    sealer: Sealer = PLAIN,
) -> None:
    """Run until SIGTERM or SIGINT with the given platform adapters (``bot.app.platforms`` builds them).

    With ``address_platform`` that one adapter stands in for every platform: people are addressed through it
    by id, and messages queued for a platform address reach the person behind it there (``standing_in``).
    ``config_path`` is what SIGHUP reloads; ``pid_file`` tells `checkin reload` whom to signal; ``sealer``
    seals the free text the bot stores (``CHECKIN_ENCRYPTION_KEY``, read by the CLI).
    """
    keep_out_of_collections()  # the modules and the config, before start-up makes more
    database = Database(database_url, sealer=sealer)
    if address_platform is not None:
        adapters = standing_in(adapters[address_platform], database)
    bot = build_bot(
        config=config,
        question_sets=question_sets,
        texts=texts,
        database=database,
        adapters=adapters,
        clock=clock,
        worker_id=worker_id(),
        address_platform=address_platform,
        rate_limits=with_overrides(
            DEFAULT_RATE_LIMITS,
            {name: limits.model_dump() for name, limits in config.outbox.rate_limits.items()},
        ),
        spool=Path(config.inbound.spool) if address_platform is None else None,
    )
    scheduling = config.scheduling
    dispatcher = bot.dispatcher(grace=scheduling.catch_up_grace)
    scheduler = Scheduler(dispatcher, sweep_interval=scheduling.sweep_interval)
    servers = web_servers(bot, clock, lambda: scheduler.running)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    reloads: set[asyncio.Task[bool]] = set()
    if config_path is not None:

        def reload_on_signal() -> None:
            task = loop.create_task(reload_config(config_path, bot, scheduler, dispatcher), name="reload")
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_on_signal)
    await bot.start()
    try:
        for server in servers:
            await server.start()
        if await _unless_stopped(scheduler.start(), stopping):
            keep_out_of_collections()  # what start-up built: the people's records, the schedules
            drawing.warm_up()
            _write_pid_file(pid_file)
            log.info("checkin-bot running as %s; SIGTERM or Ctrl-C stops it, SIGHUP reloads the config", worker_id())
            await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await asyncio.gather(*reloads, return_exceptions=True)  # a reload under way finishes first
        await scheduler.stop()
        for server in servers:
            await server.stop()
        await bot.stop()
        _remove_pid_file(pid_file)
        gc.unfreeze()


async def _unless_stopped(work: Coroutine[Any, Any, None], stopping: asyncio.Event) -> bool:
    """Run ``work`` unless a stop signal comes first, which cancels it; whether it finished.

    The scheduler's start waits out a database outage, and SIGTERM must still stop the process meanwhile.
    """
    task = asyncio.ensure_future(work)
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # its error, if it failed
    return True


async def reload_config(path: Path, bot: Bot, scheduler: Scheduler, dispatcher: Dispatcher) -> bool:
    """Validate ``path`` and, if it is sound, make it the running config; False (and logged) if refused."""
    try:
        config = load_config(path)
        question_sets = load_question_sets(config, path)
    except ConfigError as exc:
        log.error("config reload refused, still running the previous config: %d problem(s)", len(exc.issues))
        for issue in exc.issues:
            log.error("%s", issue)
        return False
    previous = bot.config
    if (config.database, config.platforms, config.observability, config.http_servers) != (
        previous.database,
        previous.platforms,
        previous.observability,
        previous.http_servers,
    ):
        log.warning(
            "config reload: database, platform, observability and http_servers settings take effect at the next restart"
        )
    try:
        await bot.reconfigure(config, question_sets)
    except Exception:  # the database, most likely: the people sync rolled back and the old config stands
        log.exception("config reload failed; still running the previous config")
        return False
    try:
        scheduler.plan(await dispatcher.schedules())
    except Exception:
        log.exception("config reloaded, but the client timers were not re-planned; the sweep still sends what is due")
    log.info("config reloaded from %s: %d coaches, %d clients", path, len(config.coaches), len(config.clients))
    return True


def _remove_pid_file(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _write_pid_file(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.write_text(f"{os.getpid()}\n", encoding="ascii")
    except OSError as exc:
        log.warning(
            "pid file %s not written (%s); reload with: .venv/bin/checkin reload --pid %d",
            path,
            exc.strerror or exc,
            os.getpid(),
        )
