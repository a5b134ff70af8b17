"""How close the outbox comes to Telegram's published rate without being told off.

2,000 messages, 5 each to 400 chats, go through the real ``OutboxWorker`` on a SQLite file to the fake
platform over HTTP, which enforces 30 messages a second overall and 1 a second per chat (with 100 ms of
latency per request, as a real round trip has). The messages are queued chat after chat, so the worker
keeps reaching for a chat it has just written to: the per-chat limit binds on almost every message, and only
sending to many chats at once keeps the overall rate at 30. The worker is paced by the defaults in
``bot.delivery.ratelimit``.

Prints one JSON line over ``--runs`` runs (3 by default): ``ratio`` is the median run's achieved rate over 30
(the target is 0.95 or more) and ``min``/``median``/``max`` the ratio over the runs; ``responses_429`` counts the
times the platform had to refuse, in all runs (the target is none). Each run is bounded by ``BUDGET_SECONDS``
and fails rather than hang.

    python -m benchmarks.ratelimit [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.contract.messages import OutboundMessage
from bot.delivery.outbox import OutboxWorker
from bot.delivery.ratelimit import DEFAULT_RATE_LIMITS
from bot.store import Database, outbox
from bot.store.models import OutboxMessage
from bot.timing.clock import SystemClock
from tests.fakes.fake_platform import FakePlatform, Rate
from tests.fakes.http_adapter import HttpAdapter

PLATFORM = "telegram"
RECIPIENTS = 400
PER_RECIPIENT = 5
LATENCY = 0.1
#: 2,000 messages at 30 a second take 67 s; anything near this budget is a failure, not a slow run.
BUDGET_SECONDS = 180


async def _seed(database: Database) -> None:
    queued = []
    for chat in range(RECIPIENTS):
        recipient = str(100_000 + chat)
        for n in range(PER_RECIPIENT):
            payload = OutboundMessage(PLATFORM, recipient, f"message {n} to chat {chat}").to_payload()
            queued.append(outbox.OutboxRow(PLATFORM, recipient, payload, f"bench-{chat}-{n}"))
    async with database.transaction() as session:
        await outbox.enqueue(session, queued, datetime.now(UTC))


async def _unsent(database: Database) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        return int(await session.scalar(query) or 0)


async def run(scratch: Path) -> dict[str, object]:
    limits = DEFAULT_RATE_LIMITS[PLATFORM]
    platform = FakePlatform(
        global_rate=Rate(limits.global_per_second),
        per_recipient_rate=Rate(limits.per_recipient_per_second),
        latency=LATENCY,
    )
    database = Database(f"sqlite+aiosqlite:///{scratch / 'outbox.sqlite3'}")
    await database.start()
    try:
        await _seed(database)
        async with platform, HttpAdapter(PLATFORM, platform.url) as adapter:
            worker = OutboxWorker(
                database, {PLATFORM: adapter}, SystemClock(), worker_id="bench", rate_limits=DEFAULT_RATE_LIMITS
            )
            started = time.perf_counter()
            try:
                async with asyncio.timeout(BUDGET_SECONDS):
                    # A refused send is retried after its backoff, which one drain may not wait for.
                    while True:
                        await worker.drain()
                        if not await _unsent(database):
                            break
                        await asyncio.sleep(0.1)
            except TimeoutError:
                delivered = len({d.outbox_id for d in platform.deliveries})
                raise RuntimeError(f"over the {BUDGET_SECONDS}s budget with {delivered} messages delivered") from None
            seconds = time.perf_counter() - started
    finally:
        await database.stop()
    messages = RECIPIENTS * PER_RECIPIENT
    return {
        "ratio": messages / seconds / limits.global_per_second,
        "responses_429": platform.statuses[429],
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
            runs.append(asyncio.run(run(Path(scratch))))
    ratios = [r["ratio"] for r in runs]
    row = {
        "bench": "ratelimit",
        "ratio": round(statistics.median(ratios), 3),
        "responses_429": sum(int(r["responses_429"]) for r in runs),
        "runs": len(runs),
        "min": round(min(ratios), 3),
        "median": round(statistics.median(ratios), 3),
        "max": round(max(ratios), 3),
        "messages": RECIPIENTS * PER_RECIPIENT,
        "seconds": round(statistics.median(r["seconds"] for r in runs), 2),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
