"""`checkin run`: the long-running bot, assembled and stopped in one visible order.

Start: database (migrated) and people, outbox worker, adapters, the health and metrics server when configured
(answering 503 until the scheduler runs), then the scheduler, which first catches up on slots missed while the
bot was down. Stop: the scheduler first (nothing new is dispatched), the health and metrics server, then the
runtime (adapters stop receiving, the outbox worker stops, the database closes). SIGTERM and SIGINT stop it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Mapping
from typing import TextIO

from adapters.base import Adapter
from adapters.console import ConsoleAdapter
from bot.clock import Clock
from bot.config import Config
from bot.dispatch import Dispatcher
from bot.observability.server import ObservabilityServer
from bot.questions import QuestionSet
from bot.ratelimit import DEFAULT_RATE_LIMITS, with_overrides
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.store import Database
from bot.texts import Texts

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Names this process in outbox leases, so an operator can tell which replica held a row."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve_console(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: Texts,
    database_url: str,
    clock: Clock,
    stdin: TextIO,
    stdout: TextIO,
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
    )


async def serve(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: Texts,
    database_url: str,
    clock: Clock,
    adapters: Mapping[str, Adapter],
    address_platform: str | None = None,
) -> None:
    """Run until SIGTERM or SIGINT with the given platform adapters (the CLI builds them from the config)."""
    runtime = Runtime(
        config=config,
        question_sets=question_sets,
        texts=texts,
        database=Database(database_url),
        adapters=adapters,
        clock=clock,
        worker_id=worker_id(),
        address_platform=address_platform,
        rate_limits=with_overrides(
            DEFAULT_RATE_LIMITS,
            {name: limits.model_dump() for name, limits in config.outbox.rate_limits.items()},
        ),
    )
    scheduling = config.scheduling
    scheduler = Scheduler(
        Dispatcher(runtime, clock, grace=scheduling.catch_up_grace), sweep_interval=scheduling.sweep_interval
    )
    http = config.observability.http
    server = (
        ObservabilityServer(
            runtime.database, runtime.metrics, lambda: scheduler.running, listen=http.listen, port=http.port
        )
        if http is not None
        else None
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await runtime.start()
    try:
        if server is not None:
            await server.start()
        await scheduler.start()
        log.info("checkin-bot running as %s; SIGTERM or Ctrl-C stops it", worker_id())
        await stopping.wait()
    finally:
        await scheduler.stop()
        if server is not None:
            await server.stop()
        await runtime.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
