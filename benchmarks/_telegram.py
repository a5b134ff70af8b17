"""What the benchmarks that go through the real Telegram adapter share.

The fake Telegram server runs in a process of its own (``python -m benchmarks._telegram``), as the real one is
on another machine: its CPU is not the bot's, so the bot process's CPU time per message is the bot's alone,
and the two do not share one event loop. It is the fake from ``tests/fakes`` (Telegram's limits: 30 messages
a second overall, one a second per chat, 429 beyond) with two routes added for the benchmark: ``POST /_push``
queues a client's text as an update and answers with its ``update_id`` and when it was queued
(``time.perf_counter``, which is the same clock in every process on Linux), and ``GET /_stats`` counts what was
sent and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.fake_telegram import FakeTelegram

BACKENDS = ("sqlite", "postgresql")
TOKEN = "123456:BENCH"


class BenchTelegram(FakeTelegram):
    """The test fake, with the benchmark's control routes."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/_push", self._push)
        app.router.add_get("/_stats", self._stats)
        super().routes(app)

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.json()
        update = self.push_text(int(body["chat_id"]), str(body["text"]))
        return web.json_response({"update_id": update["update_id"], "at": time.perf_counter()})

    async def _stats(self, request: web.Request) -> web.Response:
        del request
        sent = sum(1 for call in self.calls if call.method in ("sendMessage", "sendPhoto") and call.status == 200)
        refused = sum(1 for call in self.calls if call.status == 429)
        return web.json_response({"sent": sent, "responses_429": refused})


class TelegramProcess:
    """The fake Telegram server in a child process: ``api_url`` for the adapter, ``push`` for the clients."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._base = ""
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TelegramProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks._telegram", stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        self._base = (await self._process.stdout.readline()).decode().strip()
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()

    @property
    def api_url(self) -> str:
        return f"{self._base}/bot"

    async def push(self, chat_id: int, text: str) -> tuple[str, float]:
        """Queue a client's message; returns its event key (the ``update_id``) and when it was queued."""
        assert self._http is not None
        async with self._http.post(f"{self._base}/_push", json={"chat_id": chat_id, "text": text}) as response:
            answer = await response.json()
        return str(answer["update_id"]), float(answer["at"])

    async def stats(self) -> dict[str, int]:
        assert self._http is not None
        async with self._http.get(f"{self._base}/_stats") as response:
            return dict(await response.json())


class ShiftedClock:
    """Real time, shifted so that it starts at ``start``: slots fall due, and the rate limits see real seconds."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def spread(values: Sequence[float]) -> dict[str, float]:
    """min, median and max over the runs."""
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


async def _serve() -> None:
    fake = BenchTelegram(token=TOKEN)
    await fake.start()
    print(fake.base, flush=True)
    await asyncio.Event().wait()


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


#: A Monday 09:00 in Paris, when the benchmarks' clients have a check-in due.
SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
