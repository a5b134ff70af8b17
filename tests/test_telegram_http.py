"""python-telegram-bot over ``AiohttpRequest``: what the outbox needs from a failed call, and one connection reused.

Raw TCP servers on 127.0.0.1 answer (or do not) as the test needs; the real ``Bot`` makes the calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from adapters.telegram import classify
from adapters.telegram_http import AiohttpRequest, _env_proxy

pytestmark = pytest.mark.integration

TOKEN = "123:secret-token-value"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@asynccontextmanager
async def bot_at(port: int, send_timeout: float = 5.0) -> AsyncIterator[Bot]:
    request = AiohttpRequest(timeout=send_timeout)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    await request.initialize()  # the HTTP client only: sending needs no getMe round trip
    try:
        yield bot
    finally:
        await request.shutdown()


async def read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request (head and body); False once the client closed the connection."""
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if not line:
        return False
    await reader.readexactly(length)
    return True


async def test_a_send_without_an_answer_is_timed_out_which_the_outbox_calls_ambiguous() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # holds the connection until the client gives up

    async with raw_server(never_answer) as port, bot_at(port, send_timeout=0.2) as bot:
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(chat_id=42, text="How was the week?")
    error = classify(raised.value)
    assert error.ambiguous and not error.permanent


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    async def unused(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with raw_server(unused) as port:
        pass  # closed again: nothing listens on the port any more
    async with bot_at(port) as bot:
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(chat_id=42, text="How was the week?")
    assert not isinstance(raised.value, TimedOut)
    assert "secret-token-value" not in raised.value.message
    assert not classify(raised.value).ambiguous


async def test_sends_share_one_kept_alive_connection() -> None:
    connections: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        message_id = 0
        while await read_request(reader):
            message_id += 1
            body = json.dumps(
                {"ok": True, "result": {"message_id": message_id, "date": 0, "chat": {"id": 42, "type": "private"}}}
            ).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    async with raw_server(answer) as port, bot_at(port) as bot:
        sent = [await bot.send_message(chat_id=42, text=f"Question {n}") for n in range(3)]
    assert [m.message_id for m in sent] == [1, 2, 3]
    assert len(connections) == 1


async def test_a_proxy_named_in_the_environment_carries_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """As httpx would: a bot behind ``HTTPS_PROXY``/``HTTP_PROXY`` still reaches Telegram."""
    seen: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode().strip())
        await read_request(reader)
        body = b'{"ok": true, "result": {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}}}'
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    async with raw_server(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        _env_proxy.cache_clear()
        request = AiohttpRequest(timeout=5.0)
        bot = Bot(TOKEN, base_url="http://telegram.invalid/bot", request=request)
        try:
            sent = await bot.send_message(chat_id=42, text="How was the week?")
        finally:
            await request.shutdown()
            _env_proxy.cache_clear()
    assert sent.message_id == 7
    assert seen == [f"POST http://telegram.invalid/bot{TOKEN}/sendMessage HTTP/1.1"]
