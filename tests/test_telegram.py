"""The Telegram adapter end to end: real python-telegram-bot, real runtime and database, a fake Bot API.

Nothing is patched: the adapter polls the fake server over HTTP, the runtime stores what happens, and the
outbox (drained by the test) sends through the adapter. Long polling and webhook mode (the fake posts updates
to the adapter's own server, as Telegram would) are both covered.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.telegram import TelegramAdapter, WebhookSettings, callback_data, parse_callback_data
from bot.app.builder import Bot
from bot.contract.adapter import SendError
from bot.contract.messages import InboundEvent, InboundText, OutboundMessage
from bot.store import Database, IdentityKind, invites
from bot.store.models import Answer, Client, OutboxMessage, ProcessedEvent, TelegramInvite
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_telegram import BOT_USERNAME, FakeTelegram, SentMessage
from tests.support.practice import SLOT, write_config
from tests.test_alert_policy import FORGED_ALERT_STARTS, forged_note_alert

pytestmark = pytest.mark.integration

CONFIG = """
platforms:
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly:
    every: 1w
    on: [mon]
    at: "09:00"
coaches:
  - id: maya
    name: Maya Chen
    timezone: Europe/London
    telegram: {}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    telegram: {}
    goals:
      - id: delegate
        title: Delegate the quarterly planning
"""

DANA_CHAT = 5001
MAYA_CHAT = 6001
STRANGER_CHAT = 9009


@dataclass
class Setup:
    fake: FakeTelegram
    adapter: TelegramAdapter
    runtime: Bot
    clock: ManualClock
    database: Database


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (five seconds at most) until ``check`` holds."""
    async with asyncio.timeout(5.0):
        while not await check():  # noqa: ASYNC110 - the conditions are in the database and the fake server
            await asyncio.sleep(0.02)


@pytest.fixture
async def setup(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Setup]:
    path = write_config(tmp_path, CONFIG)
    clock = ManualClock(SLOT)
    # A check-in opens with three messages at once; the per-chat limit is the subject of its own test.
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        database = database_target.create()
        runtime = runtime_for(path, database, clock, {"telegram": adapter})
        await runtime.start()
        try:
            yield Setup(fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


async def invite(s: Setup, kind: str, person_id: str, token: str) -> None:
    async with s.database.transaction() as session:
        await invites.create_telegram_invite(
            session,
            token,
            kind,  # type: ignore[arg-type]
            person_id,
            s.clock.now() + timedelta(days=7),
            s.clock.now(),
        )


async def bot_says(s: Setup, chat_id: int, before: int) -> list[SentMessage]:
    """Drain the outbox until the bot has sent ``chat_id`` more than ``before`` messages; return them all."""

    async def more() -> bool:
        await s.runtime.outbox.drain()
        return len(s.fake.sent_to(chat_id)) > before

    await eventually(more)
    return s.fake.sent_to(chat_id)


async def bind(s: Setup, kind: str, person_id: str, chat_id: int) -> None:
    await invite(s, kind, person_id, f"tok-{person_id}")
    s.fake.push_text(chat_id, f"/start tok-{person_id}")
    [welcome] = await bot_says(s, chat_id, 0)
    assert welcome.text is not None and welcome.text.startswith("Welcome")


async def count(database: Database, entity: type[object]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


async def press(s: Setup, chat_id: int, value: str) -> dict[str, object]:
    """Press the button for ``value`` on the newest message with a keyboard; wait for the edit."""
    question = next(m for m in reversed(s.fake.sent_to(chat_id)) if m.reply_markup)
    data = next(
        b["callback_data"]
        for row in question.reply_markup["inline_keyboard"]  # type: ignore[index]
        for b in row
        if b["callback_data"].endswith(f":{value}")
    )
    edits = len(s.fake.calls_to("editMessageText"))
    update = s.fake.push_callback(chat_id, question.message_id, data)

    async def edited() -> bool:
        return len(s.fake.calls_to("editMessageText")) > edits

    await eventually(edited)
    return update


async def test_invite_checkin_buttons_note_and_coach_alert(setup: Setup) -> None:
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    await bind(s, "coach", "maya", MAYA_CHAT)
    async with s.database.session() as session:
        dana = await session.get(Client, "dana")
        assert dana is not None and dana.identity("telegram", IdentityKind.CHAT_ID) == str(DANA_CHAT)

    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    opening = await bot_says(s, DANA_CHAT, 1)
    question = opening[-1]
    assert question.reply_markup is not None
    buttons = [b for row in question.reply_markup["inline_keyboard"] for b in row]
    assert [b["callback_data"] for b in buttons][:5] == [f"{checkin_id}:progress:delegate:{v}" for v in "12345"]

    first = await press(s, DANA_CHAT, "4")
    assert s.fake.calls_to("answerCallbackQuery")
    edited = s.fake.messages[(DANA_CHAT, question.message_id)]
    assert edited.reply_markup is None and edited.text is not None and edited.text.endswith("→ 4 · Good")
    sent = len(await bot_says(s, DANA_CHAT, len(opening)))

    # Telegram delivers the same press again: it is answered and ignored.
    edits = len(s.fake.calls_to("editMessageText"))
    s.fake.redeliver(first)

    async def edited_again() -> bool:
        return len(s.fake.calls_to("editMessageText")) > edits

    await eventually(edited_again)
    await s.runtime.outbox.drain()
    assert len(s.fake.sent_to(DANA_CHAT)) == sent

    for value in ["4", "4", "1", "4", "4"]:
        before = len(s.fake.sent_to(DANA_CHAT))
        await press(s, DANA_CHAT, value)
        await bot_says(s, DANA_CHAT, before)
    for text in ["Be more direct with me", "Thanks"]:
        before = len(s.fake.sent_to(DANA_CHAT))
        s.fake.push_text(DANA_CHAT, text)
        await bot_says(s, DANA_CHAT, before)

    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert record.checkin.status == "completed"
    answers = {a.step_key: (a.value, a.text) for a in record.answers}
    assert answers["trust"] == (1, None)
    assert answers["progress:delegate"] == (4, None)
    assert answers["repair"] == (None, "Be more direct with me")
    [alert] = record.alerts
    assert alert.severity == "urgent"

    to_coach = await bot_says(s, MAYA_CHAT, 1)
    photos = [m for m in to_coach if m.photo_size]
    assert photos and photos[0].photo_size > 1000  # type: ignore[operator]
    assert any("What changed: trust 1 (floor 2)" in (m.caption or m.text or "") for m in to_coach)

    # The coach acknowledges with the alert's button; the keyboard goes and the alert is closed.
    alert_message = next(m for m in reversed(to_coach) if m.reply_markup)
    labels = [b["text"] for row in alert_message.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert labels == ["Acknowledge", "Send a check-in now", "Snooze alerts 7 days"]
    before = len(s.fake.sent_to(MAYA_CHAT))
    s.fake.push_callback(MAYA_CHAT, alert_message.message_id, f"0:coach:ack {alert.id}")
    [*_, reply] = await bot_says(s, MAYA_CHAT, before)
    assert reply.text == "Acknowledged 1 alert(s)."
    # Issue 13: acknowledged, the alert keeps the buttons still worth pressing (Snooze above all).
    kept = s.fake.messages[(MAYA_CHAT, alert_message.message_id)].reply_markup
    assert kept is not None
    labels = [b["text"] for row in kept["inline_keyboard"] for b in row]
    assert labels == ["Send a check-in now", "Snooze alerts 7 days"]
    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert record.alerts[0].acknowledged_by == "coach:maya"


async def test_a_button_press_acts_once_even_under_a_new_update_id(setup: Setup) -> None:
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    opening = await bot_says(s, DANA_CHAT, 1)
    first = await press(s, DANA_CHAT, "4")
    await bot_says(s, DANA_CHAT, len(opening))
    sent = len(s.fake.sent_to(DANA_CHAT))
    again = dict(first, update_id=first["update_id"] + 1000)  # the same callback query, another update
    edits = len(s.fake.calls_to("answerCallbackQuery"))
    s.fake.push_update(again)

    async def answered() -> bool:
        return len(s.fake.calls_to("answerCallbackQuery")) > edits

    await eventually(answered)
    await s.runtime.outbox.drain()
    assert len(s.fake.sent_to(DANA_CHAT)) == sent
    record = await s.runtime.lifecycle.checkin_record(checkin_id or 0)
    assert [(a.step_key, a.value) for a in record.answers] == [("progress:delegate", 4)]


async def test_a_stranger_is_refused_and_nothing_is_stored(setup: Setup) -> None:
    s = setup
    s.fake.push_text(STRANGER_CHAT, "hello?")
    s.fake.push_text(STRANGER_CHAT, "/start not-a-token")

    async def refused_twice() -> bool:
        return len(s.fake.sent_to(STRANGER_CHAT)) == 2

    await eventually(refused_twice)
    texts = [m.text or "" for m in s.fake.sent_to(STRANGER_CHAT)]
    assert "I don't have you on my list" in texts[0]
    assert "invite link is not valid" in texts[1]
    assert await count(s.database, ProcessedEvent) == 0
    assert await count(s.database, OutboxMessage) == 0


async def test_an_invite_is_single_use(setup: Setup) -> None:
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    s.fake.push_text(STRANGER_CHAT, "/start tok-dana")

    async def refused() -> bool:
        return len(s.fake.sent_to(STRANGER_CHAT)) == 1

    await eventually(refused)
    assert "not valid" in (s.fake.sent_to(STRANGER_CHAT)[0].text or "")
    async with s.database.session() as session:
        dana = await session.get(Client, "dana")
        assert dana is not None and dana.identity("telegram", IdentityKind.CHAT_ID) == str(DANA_CHAT)


async def test_a_429_is_retried_by_the_outbox_not_by_the_sdk(setup: Setup) -> None:
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    s.fake.fail_next(429, chat_id=DANA_CHAT, retry_after=7)
    assert await s.runtime.lifecycle.start_checkin("dana", SLOT) is not None
    calls = len(s.fake.calls_to("sendMessage"))
    await s.runtime.outbox.drain()
    assert [c.status for c in s.fake.calls_to("sendMessage")[calls:]] == [429]  # one request, no SDK retry
    assert len(s.fake.sent_to(DANA_CHAT)) == 1  # only the welcome
    s.clock.advance(timedelta(seconds=8))
    opening = await bot_says(s, DANA_CHAT, 1)
    assert opening[-1].reply_markup is not None


async def test_the_fake_enforces_one_message_a_second_per_chat() -> None:
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        try:
            await adapter.send(OutboundMessage("telegram", str(DANA_CHAT), "one"))
            with pytest.raises(SendError, match="flood control") as raised:
                await adapter.send(OutboundMessage("telegram", str(DANA_CHAT), "two"))
        finally:
            await adapter.stop()
        assert raised.value.retry_after == 1.0
        assert not raised.value.permanent


async def test_a_blocked_user_is_marked_unreachable_and_the_coach_told(setup: Setup) -> None:
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    await bind(s, "coach", "maya", MAYA_CHAT)
    s.fake.block(DANA_CHAT)
    assert await s.runtime.lifecycle.start_checkin("dana", SLOT) is not None
    await s.runtime.outbox.drain()
    async with s.database.session() as session:
        dana = await session.get(Client, "dana")
        assert dana is not None and dana.unreachable_at is not None
        assert "blocked" in (dana.unreachable_reason or "")
    to_coach = await bot_says(s, MAYA_CHAT, 1)
    assert "Dana" in (to_coach[-1].text or "")


async def test_stopping_handles_every_fetched_update() -> None:
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        handled: list[InboundEvent] = []
        first = asyncio.Event()

        async def slow_sink(event: InboundEvent) -> None:
            first.set()
            await asyncio.sleep(0.2)
            handled.append(event)

        await adapter.start(slow_sink)
        for n in range(3):
            fake.push_text(DANA_CHAT, f"note {n}")
        await asyncio.wait_for(first.wait(), 5)
        await adapter.stop()
        assert [e.text for e in handled if isinstance(e, InboundText)] == ["note 0", "note 1", "note 2"]
        # The last getUpdates confirmed them, so Telegram would not deliver them again.
        last_offset = int(fake.calls_to("getUpdates")[-1].body.get("offset") or 0)
        assert last_offset > max(int(e.event_key) for e in handled)


async def test_group_chats_are_ignored() -> None:
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        handled: list[InboundEvent] = []

        async def sink(event: InboundEvent) -> None:
            handled.append(event)

        await adapter.start(sink)
        fake.push_text(-100123, "hello group", chat_type="supergroup")
        fake.push_text(DANA_CHAT, "hello")

        async def arrived() -> bool:
            return bool(handled)

        await eventually(arrived)
        await adapter.stop()
        assert [e.sender for e in handled] == [str(DANA_CHAT)]


def test_callback_data_round_trips_and_is_bounded() -> None:
    assert parse_callback_data(callback_data(42, "progress:delegate", "4")) == (42, "progress:delegate", "4")
    assert parse_callback_data(callback_data(42, "trust", "1")) == (42, "trust", "1")
    with pytest.raises(Exception, match="64 bytes"):
        callback_data(1, "x" * 70, "1")


async def checkin_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.process
async def test_checkin_invite_prints_a_one_time_link(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        path = tmp_path / "config.yaml"
        database = tmp_path / "invite.sqlite3"
        path.write_text(
            CONFIG.replace(
                'telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}',
                f'telegram: {{bot_token: "${{TELEGRAM_BOT_TOKEN}}", api_url: "{fake.api_url}"}}',
            )
            + f'database:\n  url: "sqlite+aiosqlite:///{database}"\n',
            encoding="utf-8",
        )
        env = {"TELEGRAM_BOT_TOKEN": fake.token}
        status, out, err = await checkin_cli("invite", "maya", "--config", str(path), "--expires", "2d", env=env)
        assert status == 0, err
        link = out.strip()
        assert link.startswith(f"https://t.me/{BOT_USERNAME}?start=")
        token = link.partition("?start=")[2]
        assert 20 <= len(token) <= 64
        store = Database(f"sqlite+aiosqlite:///{database}")
        await store.start()
        try:
            async with store.session() as session:
                invite = await session.get(TelegramInvite, invites.token_hash(token))
                assert invite is not None and invite.person_kind == "coach" and invite.person_id == "maya"
        finally:
            await store.stop()

        status, _, err = await checkin_cli("invite", "dan", "--config", str(path), env=env)
        assert status == 2
        assert "unknown person 'dan'" in err
        assert "dana" in err


# ---- webhook mode ---------------------------------------------------------------------------------------

WEBHOOK_SECRET = "s3cret-webhook_token"


#: The public address Telegram is given; the fake routes it to the port the adapter listens on, as a load
#: balancer would. The adapter listens on port 0, so no other process can take its port first.
PUBLIC_WEBHOOK = "https://bot.example.test"


@pytest.fixture
async def webhook_setup(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Setup]:
    path = write_config(tmp_path, CONFIG)
    clock = ManualClock(SLOT)
    settings = WebhookSettings(f"{PUBLIC_WEBHOOK}/telegram", "127.0.0.1", 0, WEBHOOK_SECRET)
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url, mode="webhook", webhook=settings)
        database = database_target.create()
        runtime = runtime_for(path, database, clock, {"telegram": adapter})
        await runtime.start()
        fake.webhook_port = adapter.webhook_port
        try:
            yield Setup(fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


async def test_webhook_mode_end_to_end(webhook_setup: Setup) -> None:
    s = webhook_setup
    [registered] = s.fake.calls_to("setWebhook")
    assert registered.body["secret_token"] == WEBHOOK_SECRET
    assert registered.body["url"] == s.fake.webhook_url
    assert "my_chat_member" in registered.body["allowed_updates"]
    assert not s.fake.calls_to("getUpdates")  # webhook mode never polls

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{s.adapter.webhook_port}/healthz") as health,
    ):
        assert health.status == 200

    await invite(s, "client", "dana", "tok-dana")
    assert await s.fake.post_to_webhook(s.fake.text_update(DANA_CHAT, "/start tok-dana")) == 200
    [welcome] = await bot_says(s, DANA_CHAT, 0)
    assert welcome.text is not None and welcome.text.startswith("Welcome")

    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    opening = await bot_says(s, DANA_CHAT, 1)
    question = opening[-1]
    data = next(
        b["callback_data"]
        for row in question.reply_markup["inline_keyboard"]  # type: ignore[index]
        for b in row
        if b["callback_data"].endswith(":4")
    )
    press = s.fake.callback_update(DANA_CHAT, question.message_id, data)

    # Without the secret, or with a wrong one, nothing is handled.
    events = await count(s.database, ProcessedEvent)
    assert await s.fake.post_to_webhook(press, secret=None) == 403
    assert await s.fake.post_to_webhook(press, secret="not-the-secret") == 403
    assert await count(s.database, ProcessedEvent) == events
    assert await count(s.database, Answer) == 0
    assert not s.fake.calls_to("answerCallbackQuery")

    # The update is handled before the answer: once 200 comes back, the answer is stored and the reply queued.
    assert await s.fake.post_to_webhook(press) == 200
    assert await count(s.database, Answer) == 1
    edited = s.fake.messages[(DANA_CHAT, question.message_id)]
    assert edited.reply_markup is None and edited.text is not None and edited.text.endswith("→ 4 · Good")
    sent = len(await bot_says(s, DANA_CHAT, len(opening)))

    # Telegram delivers the same update again (to this replica or another): it acts once.
    assert await s.fake.post_to_webhook(press) == 200
    await s.runtime.outbox.drain()
    assert await count(s.database, Answer) == 1
    assert len(s.fake.sent_to(DANA_CHAT)) == sent

    # Updates the bot ignores are still confirmed, so Telegram does not deliver them again.
    assert await s.fake.post_to_webhook(s.fake.text_update(-100123, "hi", chat_type="supergroup")) == 200


async def test_webhook_refuses_strangers_and_stores_nothing(webhook_setup: Setup) -> None:
    s = webhook_setup
    assert await s.fake.post_to_webhook(s.fake.text_update(STRANGER_CHAT, "hello?")) == 200
    assert "I don't have you on my list" in (s.fake.sent_to(STRANGER_CHAT)[0].text or "")
    assert await count(s.database, ProcessedEvent) == 0
    assert await count(s.database, OutboxMessage) == 0


async def test_a_user_blocking_the_bot_marks_them_unreachable(webhook_setup: Setup) -> None:
    s = webhook_setup
    await invite(s, "client", "dana", "tok-dana")
    await invite(s, "coach", "maya", "tok-maya")
    assert await s.fake.post_to_webhook(s.fake.text_update(DANA_CHAT, "/start tok-dana")) == 200
    assert await s.fake.post_to_webhook(s.fake.text_update(MAYA_CHAT, "/start tok-maya")) == 200
    await bot_says(s, MAYA_CHAT, 0)
    blocked = s.fake.blocked_update(DANA_CHAT)
    assert await s.fake.post_to_webhook(blocked) == 200
    assert await s.fake.post_to_webhook(blocked) == 200  # a re-delivery tells the coach no second time
    async with s.database.session() as session:
        dana = await session.get(Client, "dana")
        assert dana is not None and dana.unreachable_at is not None
        assert "blocked" in (dana.unreachable_reason or "")
    to_coach = await bot_says(s, MAYA_CHAT, 1)
    await s.runtime.outbox.drain()
    assert len(s.fake.sent_to(MAYA_CHAT)) == len(to_coach) == 2
    assert "Dana" in (to_coach[-1].text or "")


async def test_webhook_answers_500_when_handling_fails_so_telegram_retries() -> None:
    async with FakeTelegram() as fake:
        settings = WebhookSettings(f"{PUBLIC_WEBHOOK}/hook", "127.0.0.1", 0, WEBHOOK_SECRET)
        adapter = TelegramAdapter(fake.token, fake.api_url, mode="webhook", webhook=settings)
        handled: list[InboundEvent] = []

        async def flaky_sink(event: InboundEvent) -> None:
            if not handled:
                handled.append(event)
                raise RuntimeError("database away")
            handled.append(event)

        await adapter.start(flaky_sink)
        fake.webhook_port = adapter.webhook_port
        try:
            update = fake.text_update(DANA_CHAT, "note")
            assert await fake.post_to_webhook(update) == 500
            assert await fake.post_to_webhook(update) == 200
            assert len(handled) == 2
        finally:
            await adapter.stop()
        assert fake.webhook_url is not None  # a stopping replica leaves the webhook to the others


async def test_a_forged_note_in_an_alert_stays_one_quoted_line() -> None:
    """Telegram gets plain text (no parse mode): each line of the alert is the bot's, the note one quoted line."""
    message = forged_note_alert()
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        await adapter.send(OutboundMessage("telegram", str(MAYA_CHAT), message, audience="coach"))
        await adapter.stop()
        [sent] = fake.sent_to(MAYA_CHAT)
        [call] = fake.calls_to("sendMessage")
    assert sent.text is not None
    lines = sent.text.split("\n")
    assert all(line.startswith(start) for line, start in zip(lines, FORGED_ALERT_STARTS, strict=True))
    assert len(lines) == len(FORGED_ALERT_STARTS)
    assert call.body.get("parse_mode") is None and not call.body.get("entities")
    assert not any(ch in sent.text for ch in "\u202e\u202c\u200b\u2028\x1b\r")
