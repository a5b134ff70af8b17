"""Scheduler sweep: the longest stretch one pass holds the event loop, at N clients, measured by a loop-lag probe.

The pass is the scheduler's own sweep (``dispatch()`` then ``sweep()``) a few minutes after every client's
check-in started, the situation of most minutes of a day: nothing new is due, every client has a check-in open
for the reminder and expiry sweep to look at. Clients are split between an ``every`` cadence and a ``cron`` one.
A probe task sleeps 1 ms at a time and records how late it wakes: the longest delay is the longest stretch anything else
(an inbound reply, a Slack acknowledgement) would have waited. ``max_block_cpu_ms`` is the CPU the loop's
thread used in that stretch, which leaves out time the machine gave to other processes.

    python -m benchmarks.sweep [--clients N] [--runs R] [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.dispatch import InstantAdapter
from bot.app.builder import build_bot
from bot.app.serve import keep_out_of_collections
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.store import Database
from bot.timing.clock import ManualClock

#: Monday 09:00 UTC (10:00 in Paris): both cadences' slots of the day are due.
DUE_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
#: A few minutes later: nothing new is due and no reminder yet.
IDLE_AT = DUE_AT + timedelta(minutes=5)
PROBE_INTERVAL = 0.001


def config_text(clients: int) -> str:
    people = "".join(
        f"  - {{id: c{n:06d}, name: Client {n}, coach: maya, timezone: Europe/Paris,"
        f" cadence: {'weekdays' if n % 2 else 'daily'}, slack: {{user_id: UC{n:06d}}}}}\n"
        for n in range(clients)
    )
    return (
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        "cadences:\n"
        '  daily: {every: 1d, at: "10:00"}\n'
        '  weekdays: {cron: "30 9 * * 1-5"}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: Europe/London, digest: off,"
        " slack: {user_id: U0MAYA0001}}\n"
        "clients:\n" + people
    )


class LoopProbe:
    """Wakes every millisecond and keeps the worst lateness, in wall time and in the loop thread's CPU time."""

    def __init__(self) -> None:
        self.max_wall = 0.0
        self.max_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopProbe:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            wall, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_INTERVAL)
            self.max_wall = max(self.max_wall, time.perf_counter() - wall - PROBE_INTERVAL)
            self.max_cpu = max(self.max_cpu, time.thread_time() - cpu)


async def measure(clients: int, runs: int, directory: Path) -> dict[str, object]:
    path = directory / "config.yaml"
    path.write_text(config_text(clients), encoding="utf-8")
    config = load_config(path)
    clock = ManualClock(DUE_AT - timedelta(days=1))
    runtime = build_bot(
        config=config,
        question_sets=load_question_sets(config, path),
        texts=load_catalog(),
        database=Database(f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"),
        adapters={"slack": InstantAdapter()},
        clock=clock,
        worker_id="bench",
        outbox_loop=False,
    )
    walls: list[float] = []
    cpus: list[float] = []
    passes: list[float] = []
    try:
        await runtime.start()
        keep_out_of_collections()  # as `checkin run` does once started
        dispatcher = runtime.dispatcher()
        clock.set(DUE_AT)
        opened = (await dispatcher.dispatch()).started
        if opened != clients:
            raise RuntimeError(f"expected {clients} check-ins to start at {DUE_AT}, {opened} did")
        clock.set(IDLE_AT)
        for _ in range(runs):
            async with LoopProbe() as probe:
                started = time.perf_counter()
                report = await dispatcher.dispatch()
                await dispatcher.sweep()
                passes.append(time.perf_counter() - started)
            if report.started:
                raise RuntimeError(f"nothing should be due at {IDLE_AT}, but {report.started} check-ins started")
            walls.append(probe.max_wall)
            cpus.append(probe.max_cpu)
    finally:
        await runtime.stop()
        gc.unfreeze()
    return {
        "bench": "sweep",
        "clients": clients,
        "max_block_ms": _ms(statistics.median(walls)),
        "max_block_ms_min": _ms(min(walls)),
        "max_block_ms_max": _ms(max(walls)),
        "max_block_cpu_ms": _ms(statistics.median(cpus)),
        "pass_seconds": round(statistics.median(passes), 2),
        "runs": runs,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, action="append", help="repeatable; default 10,000 (and 100,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also 100,000 clients")
    args, _ = parser.parse_known_args(argv)
    sizes = args.clients or ([10_000, 100_000] if args.full else [10_000])
    for clients in sizes:
        with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
            print(json.dumps(asyncio.run(measure(clients, args.runs, Path(scratch)))), flush=True)


if __name__ == "__main__":
    main()
