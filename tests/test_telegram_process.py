"""`checkin run` on Telegram as an admin starts it: a separate process, long polling a fake Bot API.

Everything the in-process tests cover separately happens here in one real process: invites printed by
`checkin invite` and redeemed with `/start`, a check-in the client asks for, buttons, a note, the coach's alert
with its chart and buttons, the coach's acknowledgement, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import Database
from bot.store.models import Alert
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_telegram import FakeTelegram, SentMessage

pytestmark = pytest.mark.process

DANA_CHAT, MAYA_CHAT = 5001, 6001

CONFIG = """
database: {{url: "{url}"}}
scheduling: {{sweep_interval: 5s}}
# The one-message-a-second pacing per chat has tests of its own; here it would only make every reply wait.
outbox: {{rate_limits: {{telegram: {{per_recipient_burst: 50}}}}}}
platforms:
  telegram: {{bot_token: "${{TELEGRAM_BOT_TOKEN}}", api_url: "{api_url}"}}
cadences:
  weekly: {{every: 1w, on: [mon], at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: Europe/London, telegram: {{}}}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    telegram: {{}}
    goals: [{{id: delegate, title: Delegate the quarterly planning}}]
"""


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            result = check()
            if await result if isinstance(result, Awaitable) else result:
                return
            await asyncio.sleep(0.05)


async def cli(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as server:
        yield server


async def test_checkin_run_serves_a_practice_on_telegram(fake: FakeTelegram, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=url, api_url=fake.api_url), encoding="utf-8")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "PYTHONUNBUFFERED": "1"}
    links = {person: (await cli("invite", person, "-c", str(config), env=env)).strip() for person in ("dana", "maya")}

    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "-c", str(config), stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        for person, chat in (("dana", DANA_CHAT), ("maya", MAYA_CHAT)):
            fake.push_text(chat, f"/start {links[person].partition('?start=')[2]}")
            # The welcome first; a coach's weekly digest may follow at once, since its period has begun.
            await eventually(lambda chat=chat: len(fake.sent_to(chat)) >= 1)  # type: ignore[misc]
            assert (fake.sent_to(chat)[0].text or "").startswith("Welcome")
        fake.push_text(DANA_CHAT, "checkin")
        await eventually(lambda: any(m.reply_markup for m in fake.sent_to(DANA_CHAT)))

        for answer in ["4", "4", "4", "1", "4", "4"]:
            await press(fake, DANA_CHAT, answer)
        for note in ["Be more direct with me", "Thanks"]:
            before = len(fake.sent_to(DANA_CHAT))
            fake.push_text(DANA_CHAT, note)
            await eventually(lambda before=before: len(fake.sent_to(DANA_CHAT)) > before)  # type: ignore[misc]

        await eventually(lambda: any(m.photo_size for m in fake.sent_to(MAYA_CHAT)))
        [alert_message] = [m for m in fake.sent_to(MAYA_CHAT) if m.reply_markup]
        assert "What changed: trust 1 (floor 2)" in (alert_message.caption or "")
        await press(fake, MAYA_CHAT, "ack 1", message=alert_message)
        await eventually(lambda: (fake.sent_to(MAYA_CHAT)[-1].text or "") == "Acknowledged 1 alert(s).")
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(bot.communicate(), 60)
    assert bot.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert "Be more direct" not in err.decode()  # answers never reach the log
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            [alert] = (await session.scalars(select(Alert))).all()
            assert alert.acknowledged_by == "coach:maya"
    finally:
        await database.stop()


async def press(fake: FakeTelegram, chat: int, value: str, *, message: SentMessage | None = None) -> None:
    """Press the button for ``value`` on ``message`` (default: the newest with a keyboard); wait for the answer."""
    target = message or next(m for m in reversed(fake.sent_to(chat)) if m.reply_markup)
    assert target.reply_markup is not None
    data = next(
        b["callback_data"]
        for row in target.reply_markup["inline_keyboard"]
        for b in row
        if b["callback_data"].endswith(f":{value}")
    )
    answered = len(fake.calls_to("answerCallbackQuery"))
    sent = len(fake.sent_to(chat))
    fake.push_callback(chat, target.message_id, data)
    await eventually(lambda: len(fake.calls_to("answerCallbackQuery")) > answered and len(fake.sent_to(chat)) > sent)


async def test_checkin_run_with_a_refused_token_says_so_in_one_line(fake: FakeTelegram, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    config.write_text(CONFIG.format(url=url, api_url=fake.api_url), encoding="utf-8")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "999:REVOKED"}
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "-c", str(config), stderr=asyncio.subprocess.PIPE, env=env
    )
    _, err = await asyncio.wait_for(bot.communicate(), 60)
    assert bot.returncode == 69
    assert err.decode().strip().splitlines()[-1] == (
        "checkin: Telegram refused the bot token (platforms.telegram.bot_token)"
    )
    assert "Traceback" not in err.decode() and "REVOKED" not in err.decode()
