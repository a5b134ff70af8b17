"""Paced sending: the bot's CPU per message while the outbox holds 30,000 and sends at Telegram's 30 a second.

10,000 chats have three messages each queued (a morning's openings), and the real ``OutboxWorker`` sends them
for a while through the real ``TelegramAdapter`` to the fake Telegram server in its own process, paced by
``bot.delivery.ratelimit``. Each send leases a row from the deep queue, so this is where a lease that reads the
whole queue shows. ``cpu_ms_per_message`` is this process's CPU time (``time.process_time``) over the messages
sent (the target is 3 ms or less): min/median/max over the runs; ``postgres_cpu_ms_per_message`` is the
PostgreSQL server's, from /proc.

    python -m benchmarks.sending [--seconds 15] [--runs 3] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from adapters.telegram import TelegramAdapter
from benchmarks._postgres import analyze, postgres_cpu_seconds, scratch_database
from benchmarks._telegram import (
    BACKENDS,
    TOKEN,
    TelegramProcess,
    emit,
    spread,
)
from bot.contract.messages import InboundEvent, OutboundMessage
from bot.delivery.outbox import OutboxWorker
from bot.delivery.ratelimit import DEFAULT_RATE_LIMITS
from bot.store import Database, outbox
from bot.store.models import PersonKind
from bot.timing.clock import SystemClock

CHATS = 10_000
PER_CHAT = 3
FIRST_CHAT = 100_000_000


async def _ignore(event: InboundEvent) -> None:
    del event


async def _seed(database: Database) -> None:
    rows = [
        outbox.OutboxRow(
            "telegram",
            str(FIRST_CHAT + chat),
            OutboundMessage("telegram", str(FIRST_CHAT + chat), f"Question {n} of your check-in").to_payload(),
            f"bench-{chat}-{n}",
            (PersonKind.CLIENT, f"client-{chat}"),  # as the runtime queues them: the person named
        )
        for chat in range(CHATS)
        for n in range(PER_CHAT)
    ]
    async with database.transaction() as session:
        await outbox.enqueue(session, rows, SystemClock().now())
    await analyze(database)


async def one_run(backend: str, seconds: float, directory: Path) -> dict[str, float]:
    async with TelegramProcess() as telegram, scratch_database(backend, directory) as database:
        await database.start()
        adapter = TelegramAdapter(TOKEN, telegram.api_url)
        await adapter.start(_ignore)
        try:
            await _seed(database)
            worker = OutboxWorker(
                database, {"telegram": adapter}, SystemClock(), worker_id="bench", rate_limits=DEFAULT_RATE_LIMITS
            )
            before = (await telegram.stats())["sent"]
            cpu, pg, started = time.process_time(), postgres_cpu_seconds(), time.perf_counter()
            await worker.start()
            await asyncio.sleep(seconds)
            await worker.stop()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            after_pg = postgres_cpu_seconds() if backend == "postgresql" else None
            stats = await telegram.stats()
        finally:
            await adapter.stop()
            await database.stop()
    sent = stats["sent"] - before
    result = {
        "sent": sent,
        "per_s": sent / elapsed,
        "cpu_ms": cpu / sent * 1000,
        "responses_429": stats["responses_429"],
    }
    if pg is not None and after_pg is not None:
        result["postgres_cpu_ms"] = (after_pg - pg) / sent * 1000
    return result


async def run_backend(backend: str, seconds: float, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
        results = [await one_run(backend, seconds, Path(scratch)) for _ in range(runs)]
    row: dict[str, object] = {
        "bench": "sending",
        "db": backend,
        "runs": runs,
        "queued": CHATS * PER_CHAT,
        "sent": int(sum(r["sent"] for r in results)),
        "per_s": round(sum(r["per_s"] for r in results) / runs, 1),
        "cpu_ms_per_message": spread([r["cpu_ms"] for r in results])["median"],
        **spread([r["cpu_ms"] for r in results]),
        "responses_429": int(sum(r["responses_429"] for r in results)),
    }
    if all("postgres_cpu_ms" in r for r in results):
        row["postgres_cpu_ms_per_message"] = round(sum(r["postgres_cpu_ms"] for r in results) / runs, 2)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=15.0, help="of sending per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=BACKENDS)
    args = parser.parse_args(argv)
    for backend in [args.backend] if args.backend else BACKENDS:
        emit(asyncio.run(run_backend(backend, args.seconds, args.runs)))


if __name__ == "__main__":
    main()
