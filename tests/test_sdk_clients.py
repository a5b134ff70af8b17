"""The real SDK clients, as the adapters build them, never re-send a message on their own.

A raw TCP server on 127.0.0.1 reads each request and hangs up without answering: the platform may have
accepted the message, so a retry by the SDK would be a duplicate the outbox cannot see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from telegram.error import NetworkError, RetryAfter

from adapters.sdk_clients import slack_web_client, telegram_bot

pytestmark = pytest.mark.integration


@dataclass
class HangingUpServer:
    """Counts requests by their first line and closes each connection without a response."""

    requests: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode().strip()
        self.requests.append(request_line)
        writer.close()


@pytest.fixture
async def hanging_up() -> AsyncIterator[HangingUpServer]:
    server_state = HangingUpServer()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    server_state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield server_state


async def test_slack_client_does_not_retry_a_dropped_post(hanging_up: HangingUpServer) -> None:
    client = slack_web_client("xoxb-test", f"http://127.0.0.1:{hanging_up.port}/api/")
    with pytest.raises(aiohttp.ClientError):
        await client.chat_postMessage(channel="U0DANA0001", text="How was the week?")
    assert hanging_up.requests == ["POST /api/chat.postMessage HTTP/1.1"]


async def test_the_sdk_default_would_have_posted_twice(hanging_up: HangingUpServer) -> None:
    """Why the factory matters: slack-sdk's own default retries a dropped connection."""
    client = AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{hanging_up.port}/api/")
    with pytest.raises(aiohttp.ClientError):
        await client.chat_postMessage(channel="U0DANA0001", text="How was the week?")
    assert len(hanging_up.requests) == 2


async def test_telegram_bot_does_not_retry_a_dropped_send(hanging_up: HangingUpServer) -> None:
    bot = telegram_bot("123:test", f"http://127.0.0.1:{hanging_up.port}/bot")
    await bot.request.initialize()  # the HTTP client only: sending needs no getMe round trip
    try:
        with pytest.raises(NetworkError):
            await bot.send_message(chat_id=42, text="How was the week?")
    finally:
        await bot.request.shutdown()
    assert hanging_up.requests == ["POST /bot123:test/sendMessage HTTP/1.1"]


async def test_telegram_retry_after_is_reported_not_retried() -> None:
    calls: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls.append((await reader.readline()).decode().strip())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        body = (
            b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7",'
            b'"parameters":{"retry_after":7}}'
        )
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        bot = telegram_bot("123:test", f"http://127.0.0.1:{port}/bot")
        await bot.request.initialize()
        try:
            with pytest.raises(RetryAfter, match="7 seconds"):
                await bot.send_message(chat_id=42, text="How was the week?")
        finally:
            await bot.request.shutdown()
    assert len(calls) == 1
