"""The chaos scenarios: real `checkin run` processes, fake platforms, a real PostgreSQL behind a cuttable proxy.

Each scenario serves a practice whose check-ins all fall due at once, lets the scripted clients answer them,
does its harm while they do, waits until every check-in is completed and every message sent (or a deadline
passes), stops the processes with SIGTERM and counts (``benchmarks.chaos.ledger``). A run fails when an
answer or a message was lost, a check-in doubled, a process did not stop cleanly, or a message arrived twice
without a crash (or more often than the rows in flight at the kills).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.chaos import ledger
from benchmarks.chaos.clients import Clients, SlackClients, TelegramClients, WebhookPoster
from benchmarks.chaos.practice import (
    COACH_SLACK,
    TELEGRAM_TOKEN,
    Mode,
    Practice,
    due_slot,
    environment,
    seed,
    write_practice,
)
from benchmarks.chaos.processes import BotProcess
from bot.store import Database
from tests.conftest import fresh_postgres_database
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_telegram import FakeTelegram
from tests.fakes.tcp_proxy import TcpProxy

#: Messages a second one chat takes; a burst large enough that pacing never holds a check-in up for long.
CHAT_RATE = Rate(1.0, burst=50)


@dataclass(slots=True)
class Harm:
    """What a scenario did to the bot, for the report."""

    kills: int = 0
    in_flight_at_kills: int = 0
    database_outages: int = 0
    database_outage_seconds: float = 0.0
    answers_during_outage: int = 0
    platform_outage_seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Run:
    """One scenario's world while it runs."""

    practice: Practice
    database: Database
    proxy: TcpProxy
    platform: FakeTelegram | FakeSlack
    processes: list[BotProcess]
    clients: Clients
    rng: random.Random
    harm: Harm = field(default_factory=Harm)
    #: Webhook ports of the live replicas, by replica name.
    ports: dict[str, int] = field(default_factory=dict)
    #: Set once every process has been started for the first time (kills wait for it).
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, process: BotProcess) -> None:
        await process.start()
        if self.practice.mode == "webhook":
            self.ports[process.name] = await process.webhook_port()

    async def kill(self, process: BotProcess) -> None:
        """kill -9, and count the outbox rows it held that it had not recorded as sent."""
        self.ports.pop(process.name, None)
        worker = process.worker_id
        await process.kill()
        self.harm.kills += 1
        self.harm.in_flight_at_kills += await ledger.in_flight(self.database, worker)


Chaos = Callable[[Run], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: str
    mode: Mode
    replicas: int
    seconds: float
    harm: Harm
    ledger: ledger.Ledger
    clean_stops: bool

    def problems(self) -> list[str]:
        """Every broken promise; empty when the run kept them all."""
        counted = self.ledger
        found = []
        if counted.answers_lost:
            found.append(f"{counted.answers_lost} answer(s) lost")
        if counted.checkins_doubled:
            found.append(f"{counted.checkins_doubled} check-in(s) doubled")
        if counted.messages_lost:
            found.append(f"{counted.messages_lost} message(s) lost")
        if counted.completed != counted.checkins:
            found.append(f"{counted.checkins - counted.completed} check-in(s) not completed")
        # A crash may repeat the rows it had in flight; a send the platform did not answer in time (logged as
        # possibly delivered) is retried and may show twice. Nothing else may (docs/reliability.md).
        allowed = (self.harm.in_flight_at_kills if self.harm.kills else 0) + self.harm.detail.get("ambiguous_sends", 0)
        if counted.duplicates > allowed:
            found.append(
                f"{counted.duplicates} duplicate(s), more than the {allowed} row(s) in flight at kills or sent"
                " ambiguously"
            )
        if not self.clean_stops:
            found.append("a process did not stop cleanly on SIGTERM")
        return found

    def line(self) -> dict[str, Any]:
        return {
            "bench": "chaos",
            "scenario": self.scenario,
            "mode": self.mode,
            "replicas": self.replicas,
            "seconds": round(self.seconds, 1),
            **asdict(self.ledger),
            "messages_lost": self.ledger.messages_lost,
            **{k: v for k, v in asdict(self.harm).items() if k != "detail"},
            **self.harm.detail,
            "ok": not self.problems(),
        }


async def run_scenario(
    scenario: str,
    practice: Practice,
    chaos: Chaos,
    *,
    replicas: int = 1,
    deadline: float = 300.0,
    lease: str = "5s",
    give_up_after: str = "30m",
    latency: float = 0.0,
    seed_value: int = 12,
) -> Outcome:
    started = time.monotonic()
    rng = random.Random(seed_value)
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_postgres_database("the chaos run"))
        target = make_url(url)
        proxy = await stack.enter_async_context(TcpProxy(target.host or "127.0.0.1", target.port or 5432))
        through_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        platform = await stack.enter_async_context(_platform(practice, latency))
        # CHAOS_KEEP=1 keeps the run's folder (config, process logs, spool) for a look afterwards.
        keep = bool(os.environ.get("CHAOS_KEEP"))
        directory = Path(
            tempfile.mkdtemp(prefix="chaos-")
            if keep
            else stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-"))
        )
        slot = due_slot()
        config = write_practice(
            directory,
            practice,
            database_url=through_proxy,
            api_url=platform.api_url,
            slot=slot,
            lease=lease,
            give_up_after=give_up_after,
        )
        await seed(config, url, practice, slot)
        database = Database(url)
        await database.start()
        stack.push_async_callback(database.stop)
        env = environment(dict(os.environ))
        processes = [BotProcess(f"replica{n}", config, env, directory) for n in range(replicas)]
        poster = await stack.enter_async_context(WebhookPoster(lambda: list(run.ports.values()), rng))
        clients = _clients(practice, platform, poster)
        run = Run(practice, database, proxy, platform, processes, clients, rng)
        try:
            await _until_done(run, chaos, poster, started + deadline)
        finally:
            stops = [await process.stop() for process in processes]
            logs = "".join(process.logs() for process in processes)
            run.harm.detail |= {
                "exit_codes": stops,
                # Sends that timed out or broke after leaving: retried, so they may show twice (not a crash).
                "ambiguous_sends": logs.count("may have been delivered"),
                "tracebacks": logs.count("Traceback"),
            }
        counted = await ledger.settle(database, clients.given, platform)
    outcome = Outcome(
        scenario,
        practice.mode,
        replicas,
        time.monotonic() - started,
        run.harm,
        counted,
        clean_stops=all(code == 0 for code in stops),
    )
    return outcome


async def _until_done(run: Run, chaos: Chaos, poster: WebhookPoster, deadline: float) -> None:
    """Clients answer and the chaos does its harm until every check-in is completed and every message sent.

    The harm starts before the processes, so a platform outage is there from their first send.
    """
    harming = asyncio.create_task(chaos(run), name="chaos")
    await asyncio.sleep(0)
    answering = asyncio.create_task(run.clients.run(), name="clients")
    try:
        for process in run.processes:
            await run.start(process)
        run.started.set()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if harming.done() and harming.exception() is not None:
                raise harming.exception()  # type: ignore[misc]
            now = await _progress(run)
            settled = now is not None and now.completed == run.practice.clients and now.unsent == 0
            harmed = harming.done() or run.harm.kills or run.harm.database_outages or run.harm.platform_outage_seconds
            if settled and harmed and not poster.pending:
                break
        harming.cancel()
        await asyncio.gather(harming, return_exceptions=True)
        # A replica the chaos left dead or starting is started (again): at the end every process, fully up,
        # stops with SIGTERM.
        for process in run.processes:
            if not process.alive:
                await run.start(process)
            await process.until_running()
    finally:
        answering.cancel()
        harming.cancel()
        await asyncio.gather(answering, harming, return_exceptions=True)


async def _progress(run: Run) -> ledger.Progress | None:
    try:
        return await ledger.progress(run.database)
    except OSError:
        return None


@asynccontextmanager
async def _platform(practice: Practice, latency: float) -> AsyncIterator[FakeTelegram | FakeSlack]:
    if practice.platform == "slack":
        async with FakeSlack(per_channel_rate=CHAT_RATE) as slack:
            slack.add_user(COACH_SLACK, "maya@example.com", "Maya Chen")
            for address in practice.addresses():
                slack.add_user(address, f"{address.lower()}@example.com")
            yield slack
        return
    async with FakeTelegram(token=TELEGRAM_TOKEN, per_chat_rate=CHAT_RATE, global_rate=None, latency=latency) as fake:
        yield fake


def _clients(practice: Practice, platform: FakeTelegram | FakeSlack, poster: WebhookPoster) -> Clients:
    if isinstance(platform, FakeSlack):
        return SlackClients(platform, practice.addresses())
    send = poster.send if practice.mode == "webhook" else platform.push_update
    return TelegramClients(platform, practice.addresses(), send)


# ---- the harms --------------------------------------------------------------------------------------------


def kills(every: tuple[float, float], down: tuple[float, float]) -> Chaos:
    """kill -9 a random replica at random instants, and start it again a moment later, until the run is done."""

    async def chaos(run: Run) -> None:
        await run.started.wait()
        while True:
            await asyncio.sleep(run.rng.uniform(*every))
            victim = run.rng.choice(run.processes)
            if victim.alive:
                await run.kill(victim)
                await asyncio.sleep(run.rng.uniform(*down))
                await run.start(victim)

    return chaos


def database_outage(seconds: float, after_answers: int) -> Chaos:
    """Cut every database connection once the clients gave ``after_answers`` answers; restore it later."""

    async def chaos(run: Run) -> None:
        while run.clients.answers_given < after_answers:  # noqa: ASYNC110 - counted by the clients' own loop
            await asyncio.sleep(0.1)
        before = run.clients.answers_given
        run.proxy.cut()
        run.harm.database_outages += 1
        await asyncio.sleep(seconds)
        run.proxy.restore()
        run.harm.database_outage_seconds += seconds
        run.harm.answers_during_outage += run.clients.answers_given - before

    return chaos


def platform_outage(seconds: float, status: int = 502) -> Chaos:
    """Every send refused with a 5xx from the start for ``seconds``."""

    async def chaos(run: Run) -> None:
        assert isinstance(run.platform, FakeTelegram)
        run.platform.outage = status
        try:
            await asyncio.sleep(seconds)
        finally:
            run.platform.outage = None
        run.harm.platform_outage_seconds = seconds

    return chaos


async def nothing(run: Run) -> None:
    """No harm beyond what the scenario's settings do (a slow platform)."""
