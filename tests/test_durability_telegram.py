"""Telegram long polling loses no update: one is confirmed to Telegram only after the runtime has it.

The first test hands the adapter a sink that fails as the runtime does while its database is down; the second
kills a real `checkin run` with -9 while a button press is being handled (the database held locked by the
test), starts it again and expects the press to be recorded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.telegram import TelegramAdapter
from bot.contract.messages import InboundEvent, InboundText
from bot.store import Database
from bot.store.models import Answer
from tests.conftest import fresh_postgres_database
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_telegram import FakeTelegram
from tests.test_telegram_process import CONFIG, DANA_CHAT, cli, eventually

SAM_CHAT = DANA_CHAT + 1


@pytest.mark.integration
async def test_an_update_the_runtime_failed_on_is_handed_over_again_before_later_ones() -> None:
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        handled: list[str] = []
        failures = 2

        async def flaky_sink(event: InboundEvent) -> None:
            nonlocal failures
            assert isinstance(event, InboundText)
            if event.text == "first" and failures:
                failures -= 1
                raise ConnectionRefusedError("the database is down")
            handled.append(event.text)

        await adapter.start(flaky_sink)
        try:
            fake.push_text(DANA_CHAT, "first")
            fake.push_text(DANA_CHAT, "second")
            await eventually(lambda: len(handled) == 2)
        finally:
            await adapter.stop()
        assert handled == ["first", "second"]
        assert failures == 0


@pytest.mark.integration
async def test_a_slow_update_holds_up_only_its_own_chat() -> None:
    """In one batch, another chat's reply is handled while one chat's reply is slow (a check-in completing with
    an alert), and each chat's updates keep their order."""
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        handled: list[str] = []
        release = asyncio.Event()

        async def sink(event: InboundEvent) -> None:
            assert isinstance(event, InboundText)
            if event.text == "dana 1":
                await release.wait()
            handled.append(event.text)

        for chat, text in ((DANA_CHAT, "dana 1"), (SAM_CHAT, "sam 1"), (DANA_CHAT, "dana 2")):
            fake.push_text(chat, text)
        await adapter.start(sink)
        try:
            await eventually(lambda: handled == ["sam 1"])
            await asyncio.sleep(0.2)
            assert handled == ["sam 1"]  # Dana's second reply waits for her first
            release.set()
            await eventually(lambda: len(handled) == 3)
        finally:
            await adapter.stop()
        assert handled == ["sam 1", "dana 1", "dana 2"]


@asynccontextmanager
async def database_url(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'bot.sqlite3'}"
        return
    async with fresh_postgres_database("the Telegram kill test") as url:
        yield url


@asynccontextmanager
async def database_held(url: str, directory: Path) -> AsyncIterator[None]:
    """Hold the database so no event can be recorded: a write lock on SQLite, a table lock on PostgreSQL."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(directory / "bot.sqlite3", isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE"))
            yield
            await connection.rollback()
    finally:
        await engine.dispose()


async def answers(url: str) -> int:
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(Answer)) or 0)
    finally:
        await database.stop()


async def run_bot(config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "-c", str(config), stderr=asyncio.subprocess.DEVNULL, env=env
    )


@pytest.mark.process
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_a_button_press_survives_a_kill_while_it_is_being_handled(backend: str, tmp_path: Path) -> None:
    async with database_url(backend, tmp_path) as url, FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        config = tmp_path / "config.yaml"
        config.write_text(CONFIG.format(url=url, api_url=fake.api_url), encoding="utf-8")
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "PYTHONUNBUFFERED": "1"}
        link = (await cli("invite", "dana", "-c", str(config), env=env)).strip()
        bot = await run_bot(config, env)
        try:
            fake.push_text(DANA_CHAT, f"/start {link.partition('?start=')[2]}")
            await eventually(lambda: len(fake.sent_to(DANA_CHAT)) == 1)
            fake.push_text(DANA_CHAT, "checkin")
            await eventually(lambda: any(m.reply_markup for m in fake.sent_to(DANA_CHAT)))
            question = next(m for m in reversed(fake.sent_to(DANA_CHAT)) if m.reply_markup)
            assert question.reply_markup is not None
            data = next(
                b["callback_data"]
                for row in question.reply_markup["inline_keyboard"]
                for b in row
                if b["callback_data"].endswith(":4")
            )
            answered = len(fake.calls_to("answerCallbackQuery"))
            async with database_held(url, tmp_path):
                fake.push_callback(DANA_CHAT, question.message_id, data)
                # The press is answered just before it is handed to the runtime, which now waits for the database.
                await eventually(lambda: len(fake.calls_to("answerCallbackQuery")) > answered)
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
            assert await answers(url) == 0
            bot = await run_bot(config, env)
            await eventually(lambda: answers(url), seconds=60)
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 60)
        assert await answers(url) == 1
