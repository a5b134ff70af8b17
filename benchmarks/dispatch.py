"""Dispatch throughput: 10,000 clients due at once, into an adapter that accepts instantly.

Measures what the bot itself costs per check-in (claim the slot, plan the conversation, write the outbox,
lease and send the opening messages), with the platform taken out of the picture. Each backend runs in a
process of its own so the peak RSS figure belongs to that run alone.

    python -m benchmarks.dispatch [--clients N] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._postgres import scratch_database
from bot.app.builder import build_bot
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.messages import InboundSink, OutboundMessage
from bot.timing.clock import ManualClock

DUE_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class InstantAdapter:
    """Accepts every message at once: the platform is not what this benchmark measures."""

    name = "slack"

    def __init__(self) -> None:
        self.sent = 0

    async def start(self, sink: InboundSink) -> None:
        del sink

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> str:
        self.sent += 1
        return str(self.sent)


def config_text(clients: int) -> str:
    people = "".join(
        f"  - {{id: c{n:05d}, name: Client {n}, coach: maya, timezone: Europe/Paris, cadence: daily,"
        f" slack: {{user_id: UC{n:05d}}}, goals: [{{id: goal, title: Lead the offsite}}]}}\n"
        for n in range(clients)
    )
    return (
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        'cadences:\n  daily: {every: 1d, at: "10:00"}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}\n"
        "clients:\n" + people
    )


async def run(backend: str, clients: int, directory: Path) -> dict[str, object]:
    path = directory / "config.yaml"
    path.write_text(config_text(clients), encoding="utf-8")
    config = load_config(path)
    async with scratch_database(backend, directory) as database:
        clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
        adapter = InstantAdapter()
        runtime = build_bot(
            config=config,
            question_sets=load_question_sets(config, path),
            texts=load_catalog(),
            database=database,
            adapters={"slack": adapter},
            clock=clock,
            worker_id="bench",
            outbox_loop=False,
        )
        try:
            await runtime.start()
            clock.set(DUE_AT)
            started = time.perf_counter()
            report = await runtime.dispatcher().dispatch()
            claimed = time.perf_counter()
            await runtime.outbox.drain()
            finished = time.perf_counter()
        finally:
            await runtime.stop()
    if report.started != clients or adapter.sent != 3 * clients:
        raise RuntimeError(f"expected {clients} check-ins and {3 * clients} messages, got {report} / {adapter.sent}")
    return {
        "bench": "dispatch",
        "backend": backend,
        "clients": clients,
        "checkins_per_s": round(clients / (finished - started), 1),
        "claim_per_s": round(clients / (claimed - started), 1),
        "messages_sent": adapter.sent,
        "seconds": round(finished - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    if args.backend is None:
        for backend in ("sqlite", "postgresql"):
            command = [
                sys.executable,
                "-m",
                "benchmarks.dispatch",
                "--backend",
                backend,
                "--clients",
                str(args.clients),
            ]
            subprocess.run(command, check=True, timeout=600)
        return
    with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
        print(json.dumps(asyncio.run(run(args.backend, args.clients, Path(scratch)))), flush=True)


if __name__ == "__main__":
    main()
