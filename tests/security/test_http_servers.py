"""The bot's HTTP servers under abuse: slow connections (slowloris), idle ones, slow and oversized bodies, and
health pollers that must not load the database.

Issue 15, item 4: 370 slow connections made signed updates time out and used up the process's file descriptors,
and 32 /healthz pollers slowed a client's answers from 1.9 s to 10 s by taking SQLite's write lock. Each test
drives the real adapter (python-telegram-bot and slack-bolt against the fakes) or the real observability server
over raw sockets on 127.0.0.1, with short limits so nothing waits long; none asserts a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, text

from adapters.slack import HttpSettings, SlackAdapter
from adapters.telegram import TelegramAdapter, WebhookSettings
from bot.contract.http_server import HttpLimits
from bot.contract.messages import InboundEvent
from bot.observability.metrics import Metrics
from bot.observability.server import ObservabilityServer
from bot.store import Database
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_telegram import FakeTelegram

pytestmark = pytest.mark.integration

SECRET = "s3cret-webhook_token"
#: A bound on waiting for something that must happen (a hang guard, not a measure of speed).
GUARD = 60.0


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD):
        while not check():  # noqa: ASYNC110 - the condition is the state of sockets
            await asyncio.sleep(0.02)


class SlowClient:
    """Opens a connection and sends a request head a byte at a time, never finishing it (slowloris)."""

    HEAD = b"POST /telegram HTTP/1.1\r\nHost: bot.example.test\r\n" + b"X-Slow: 1\r\n" * 100

    def __init__(self, port: int) -> None:
        self._port = port
        self._trickle: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()  # the server closed it

    async def open(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        self._writer = writer
        self._trickle = asyncio.create_task(self._send_slowly(writer))
        self._watch = asyncio.create_task(self._wait_for_close(reader))

    async def close(self) -> None:
        for task in (self._trickle, self._watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._writer.close()

    async def _send_slowly(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            for byte in self.HEAD:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)

    async def _wait_for_close(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(1024):
                pass
        self.closed.set()


@asynccontextmanager
async def slow_clients(port: int, count: int) -> AsyncIterator[list[SlowClient]]:
    clients = [SlowClient(port) for _ in range(count)]
    try:
        for client in clients:
            await client.open()
        yield clients
    finally:
        await asyncio.gather(*(client.close() for client in clients))


@asynccontextmanager
async def telegram_webhook(limits: HttpLimits) -> AsyncIterator[tuple[FakeTelegram, TelegramAdapter, list[Any]]]:
    """The Telegram adapter in webhook mode on port 0 under ``limits``, with a sink that keeps what it is given."""
    handled: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> None:
        handled.append(event)

    async with FakeTelegram() as fake:
        settings = WebhookSettings("https://bot.example.test/telegram", "127.0.0.1", 0, SECRET, limits=limits)
        adapter = TelegramAdapter(fake.token, fake.api_url, mode="webhook", webhook=settings)
        await adapter.start(sink)
        fake.webhook_port = adapter.webhook_port
        try:
            yield fake, adapter, handled
        finally:
            await adapter.stop()


async def test_a_signed_update_is_handled_while_slow_connections_hold_more_than_the_cap() -> None:
    """40 slowloris connections against a cap of 16: the oldest slow ones make way, the update gets in."""
    limits = HttpLimits(header_timeout=GUARD, max_connections=16)
    async with telegram_webhook(limits) as (fake, adapter, handled), slow_clients(adapter.webhook_port, 40) as slow:
        assert await fake.post_to_webhook(fake.text_update(5001, "my note")) == 200
        assert len(handled) == 1
        # Handled while slow connections were held: the newest ones are still open (their timeout is long)...
        assert not slow[-1].closed.is_set()
        # ...and the server held no more than its cap: the oldest were closed to make room.
        await eventually(lambda: sum(client.closed.is_set() for client in slow) >= 40 - 16 + 1)
        assert not any(client.closed.is_set() for client in slow[40 - 16 + 1 :])


async def test_slow_connections_are_closed_after_the_header_timeout() -> None:
    limits = HttpLimits(header_timeout=0.3)
    async with telegram_webhook(limits) as (fake, adapter, handled), slow_clients(adapter.webhook_port, 10) as slow:
        # Each keeps sending a byte every 0.1 s and would take minutes to finish its head.
        await eventually(lambda: all(client.closed.is_set() for client in slow))
        assert await fake.post_to_webhook(fake.text_update(5001, "after")) == 200
        assert len(handled) == 1


async def test_a_slow_body_is_answered_408_and_closed() -> None:
    limits = HttpLimits(header_timeout=0.3)
    async with telegram_webhook(limits) as (_fake, adapter, handled):
        reader, writer = await asyncio.open_connection("127.0.0.1", adapter.webhook_port)
        try:
            writer.write(
                b"POST /telegram HTTP/1.1\r\nHost: bot.example.test\r\nContent-Type: application/json\r\n"
                b"X-Telegram-Bot-Api-Secret-Token: " + SECRET.encode() + b'\r\nContent-Length: 100\r\n\r\n{"up'
            )
            await writer.drain()
            async with asyncio.timeout(GUARD):
                answer = await reader.read()  # to the end: the server closes the connection
        finally:
            writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert not handled


async def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(database: Database) -> None:
    server = ObservabilityServer(
        database, Metrics(), lambda: True, listen="127.0.0.1", port=0, limits=HttpLimits(idle_timeout=0.3)
    )
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(GUARD):
                answer = await reader.read()  # the response, then the end once the connection sat idle
        finally:
            writer.close()
    finally:
        await server.stop()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok")


async def test_slack_http_mode_refuses_an_oversized_body_and_answers_a_signed_request() -> None:
    limits = HttpLimits(max_body_bytes=64 * 1024)
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            fake.bot_token,
            mode="http",
            signing_secret=fake.signing_secret,
            api_url=fake.api_url,
            http=HttpSettings("127.0.0.1", 0, limits=limits),
        )

        async def sink(event: InboundEvent) -> None:
            pass

        await adapter.start(sink)
        try:
            url = f"http://127.0.0.1:{adapter.http_port}/slack/events"
            huge = {"type": "url_verification", "challenge": "c" * (65 * 1024)}
            assert (await fake.post_signed(url, huge))[0] == 413
            status, body = await fake.post_signed(url, {"type": "url_verification", "challenge": "c-123"})
            assert status == 200 and "c-123" in body
        finally:
            await adapter.stop()


# ---- /healthz and /metrics never load the database ---------------------------------------------------------


async def get(session: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def test_healthz_answers_while_another_connection_holds_the_write_lock(database: Database) -> None:
    server = ObservabilityServer(database, Metrics(), lambda: True, listen="127.0.0.1", port=0, refresh=0)
    await server.start()
    try:
        async with database.transaction() as writer, aiohttp.ClientSession() as client:
            # A write transaction left open, as an answer being stored holds one (on SQLite: the write lock).
            await writer.execute(text("DELETE FROM processed_events WHERE 1 = 0"))
            assert await get(client, server.port, "/healthz") == (200, "ok")
            status, body = await get(client, server.port, "/metrics")
            assert status == 200 and "checkin_outbox_depth 0.0" in body.splitlines()
    finally:
        await server.stop()


async def test_32_pollers_cause_one_read_and_never_a_write_lock(database: Database) -> None:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    server = ObservabilityServer(database, Metrics(), lambda: True, listen="127.0.0.1", port=0, refresh=3600)
    await server.start()
    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with aiohttp.ClientSession() as client:
            polls: list[Awaitable[tuple[int, str]]] = [
                get(client, server.port, "/healthz" if n % 2 else "/metrics") for n in range(32)
            ]
            answers = await asyncio.gather(*polls)
            assert all(status == 200 for status, _ in answers)
            assert await get(client, server.port, "/healthz") == (200, "ok")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
        await server.stop()
    assert not any("IMMEDIATE" in statement for statement in statements)
    assert len([statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]) == 1
