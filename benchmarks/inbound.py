"""Inbound latency: a client's reply -> stored -> next question queued, under load, through the real adapter.

1,000 clients on Telegram are in the middle of a check-in. They reply at 30 messages a second in all while the
outbox sends what those replies queue (the next question, the coach's summaries and alerts) at Telegram's
30 a second, through the real ``TelegramAdapter`` (python-telegram-bot, long polling) against the fake
Telegram server in a process of its own (``benchmarks/_telegram.py``). Among them ten clients answer a whole
check-in with trust at 1, so its last reply completes the check-in and raises an urgent alert with a chart.

A reply's latency runs from the moment the fake server queued the update to the moment the runtime's sink
returned for it: polled, parsed, identified, stored, the next question queued, committed. The ``inbound`` row
gives p50 and p99 over every reply of every run, and min/median/max of each run's p99; ``inbound_alert`` the
same for the replies that completed a check-in with an alert. ``bot_cpu_ms_per_reply`` is this process's CPU
(replies and sending), ``postgres_cpu_ms_per_reply`` the PostgreSQL server's, from /proc.

    python -m benchmarks.inbound [--seconds 15] [--runs 3] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from adapters.telegram import TelegramAdapter
from benchmarks._postgres import analyze, postgres_cpu_seconds, scratch_database
from benchmarks._telegram import (
    BACKENDS,
    SLOT,
    TOKEN,
    ShiftedClock,
    TelegramProcess,
    emit,
    percentile,
    spread,
)
from bot.app.builder import Bot, build_bot
from bot.app.serve import keep_out_of_collections
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.messages import InboundEvent, InboundSink
from bot.contract.statuses import OutboxStatus, PersonKind
from bot.delivery.ratelimit import DEFAULT_RATE_LIMITS
from bot.signals import drawing
from bot.store import Database, identities
from bot.store.models import OutboxMessage

CLIENTS = 1_000
#: Replies a second, all clients together (the alerting clients' included).
RATE = 30.0
ALERTING = 10
#: An alerting client's check-in: goal progress, hope, focus, trust at 1, perspective, support, the repair
#: question trust at 1 asks, and the note skipped, which completes it.
ALERTING_REPLIES = ["4", "4", "4", "1", "4", "4", "Be more direct with me", "skip"]
#: Seconds between an alerting client's replies, as a person types.
ALERTING_PAUSE = 1.0
COACH_CHAT = 900_000_000
FIRST_CHAT = 100_000_000


def config_text() -> str:
    clients = "".join(
        f"  - {{id: c{n:04d}, name: Client {n}, coach: maya, timezone: Europe/Paris, cadence: weekly,"
        f" telegram: {{}}, goals: [{{id: goal, title: Lead the offsite}}]}}\n"
        for n in range(CLIENTS)
    )
    return (
        'platforms:\n  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}\n'
        'cadences:\n  weekly: {every: 1w, on: [mon], at: "09:00"}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: Europe/Paris, telegram: {}}\n"
        "clients:\n" + clients
    )


class TimedTelegram(TelegramAdapter):
    """The real adapter; its sink notes when the runtime is done with each event."""

    def __init__(self, api_url: str) -> None:
        super().__init__(TOKEN, api_url)
        self.done: dict[str, float] = {}
        self.handled: dict[str, asyncio.Event] = {}

    async def start(self, sink: InboundSink) -> None:
        async def timed(event: InboundEvent) -> None:
            await sink(event)
            self.done[event.event_key] = time.perf_counter()
            self.handled.setdefault(event.event_key, asyncio.Event()).set()

        await super().start(timed)

    async def until_handled(self, event_key: str) -> None:
        await self.handled.setdefault(event_key, asyncio.Event()).wait()


@dataclass
class Run:
    steady: list[float] = field(default_factory=list)
    alert: list[float] = field(default_factory=list)
    replies: int = 0
    seconds: float = 0.0
    bot_cpu: float = 0.0
    postgres_cpu: float | None = None
    sent: int = 0
    responses_429: int = 0


async def _prepare(bot: Bot, database: Database) -> None:
    """Every client bound to a chat and in a check-in whose opening went out; the outbox empty."""
    async with database.transaction() as session:
        await identities.bind_telegram_chat(session, PersonKind.COACH, "maya", COACH_CHAT)
        for n in range(CLIENTS):
            await identities.bind_telegram_chat(session, PersonKind.CLIENT, f"c{n:04d}", FIRST_CHAT + n)
    await bot.lifecycle.start_checkins([(f"c{n:04d}", SLOT) for n in range(CLIENTS)])
    async with database.transaction() as session:
        await session.execute(
            sa.update(OutboxMessage).values(status=OutboxStatus.SENT, sent_at=SLOT, lease_until=None, leased_by=None)
        )
    await analyze(database)


async def one_run(backend: str, seconds: float, directory: Path, config_path: Path) -> Run:
    config = load_config(config_path)
    run = Run()
    async with TelegramProcess() as telegram, scratch_database(backend, directory) as database:
        adapter = TimedTelegram(telegram.api_url)
        bot = build_bot(
            config=config,
            question_sets=load_question_sets(config, config_path),
            texts=load_catalog(),
            database=database,
            adapters={"telegram": adapter},
            clock=ShiftedClock(SLOT),
            worker_id="bench",
            outbox_loop=False,
            rate_limits=DEFAULT_RATE_LIMITS,
        )
        await bot.start()
        try:
            await _prepare(bot, database)
            # As `checkin run` does once it runs: start-up's objects out of the collector's way, the drawing
            # process started. The bench waits for it (a second or two, once per bot process): it measures a bot
            # that has been running, not its first seconds.
            keep_out_of_collections()
            if (ready := drawing.warm_up()) is not None:
                await asyncio.wrap_future(ready)
            await bot.outbox.start()
            pushed: dict[str, float] = {}
            alert_keys: list[str] = []

            async def push(chat: int, text: str) -> str:
                key, at = await telegram.push(chat, text)
                pushed[key] = at
                return key

            async def alerting_client(n: int) -> None:
                await asyncio.sleep(n * ALERTING_PAUSE / ALERTING)
                for reply in ALERTING_REPLIES:
                    key = await push(FIRST_CHAT + n, reply)
                    await adapter.until_handled(key)
                    await asyncio.sleep(ALERTING_PAUSE)
                alert_keys.append(key)

            # The alerting clients' replies count towards the rate, spread over the run.
            steady_rate = RATE - ALERTING * len(ALERTING_REPLIES) / seconds
            cpu, pg, started = time.process_time(), postgres_cpu_seconds(), time.perf_counter()
            alerting = [asyncio.create_task(alerting_client(n)) for n in range(ALERTING)]
            pushes: list[asyncio.Task[str]] = []
            count = int(seconds * steady_rate)
            for i in range(count):
                await asyncio.sleep(max(0.0, started + i / steady_rate - time.perf_counter()))
                pushes.append(asyncio.create_task(push(FIRST_CHAT + ALERTING + i % (CLIENTS - ALERTING), "4")))
            keys = await asyncio.gather(*pushes)
            await asyncio.gather(*alerting)
            async with asyncio.timeout(60):
                for key in keys:
                    await adapter.until_handled(key)
            run.seconds = time.perf_counter() - started
            run.bot_cpu = time.process_time() - cpu
            if backend == "postgresql" and pg is not None:
                after = postgres_cpu_seconds()
                run.postgres_cpu = (after or pg) - pg
            latency = {key: adapter.done[key] - at for key, at in pushed.items()}
            run.alert = [latency[key] for key in alert_keys]
            run.steady = [value for key, value in latency.items() if key not in alert_keys]
            run.replies = len(pushed)
            stats = await telegram.stats()
            run.sent, run.responses_429 = stats["sent"], stats["responses_429"]
        finally:
            await bot.stop()
            gc.unfreeze()
    return run


def rows(backend: str, runs: list[Run]) -> list[dict[str, object]]:
    replies = sum(r.replies for r in runs)
    common: dict[str, object] = {"db": backend, "runs": len(runs), "clients": CLIENTS}
    steady = [v for r in runs for v in r.steady]
    alert = [v for r in runs for v in r.alert]
    inbound: dict[str, object] = {
        "bench": "inbound",
        **common,
        "replies_per_s": round(replies / sum(r.seconds for r in runs), 1),
        "p50_ms": round(percentile(steady, 0.5) * 1000, 1),
        "p99_ms": round(percentile(steady, 0.99) * 1000, 1),
        **spread([percentile(r.steady, 0.99) * 1000 for r in runs]),
        "bot_cpu_ms_per_reply": round(sum(r.bot_cpu for r in runs) / replies * 1000, 2),
        "sent_per_s": round(sum(r.sent for r in runs) / sum(r.seconds for r in runs), 1),
        "responses_429": sum(r.responses_429 for r in runs),
    }
    if backend == "postgresql" and all(r.postgres_cpu is not None for r in runs):
        inbound["postgres_cpu_ms_per_reply"] = round(sum(r.postgres_cpu or 0.0 for r in runs) / replies * 1000, 2)
    return [
        inbound,
        {
            "bench": "inbound_alert",
            **common,
            "replies": len(alert),
            "p50_ms": round(percentile(alert, 0.5) * 1000, 1),
            "p99_ms": round(percentile(alert, 0.99) * 1000, 1),
            **spread([max(r.alert) * 1000 for r in runs]),
        },
    ]


async def run_backend(backend: str, seconds: float, runs: int) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
        directory = Path(scratch)
        config_path = directory / "config.yaml"
        config_path.write_text(config_text(), encoding="utf-8")
        results = [await one_run(backend, seconds, directory, config_path) for _ in range(runs)]
    return rows(backend, results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=15.0, help="of replies per run (at least 10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=BACKENDS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TELEGRAM_BOT_TOKEN", TOKEN)  # the config names it; the fake accepts this one
    for backend in [args.backend] if args.backend else BACKENDS:
        for row in asyncio.run(run_backend(backend, args.seconds, args.runs)):
            emit(row)


if __name__ == "__main__":
    main()
