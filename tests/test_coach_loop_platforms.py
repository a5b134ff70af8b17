"""The coach's loop through the real adapters: python-telegram-bot and slack-bolt against the fake servers on
127.0.0.1, the real runtime and both databases. Nothing is patched. On both, the digest's dashboard button
(only with a dashboard configured) answers with a one-time link, as typing ``dashboard`` does.

Telegram: a coach who opens their invite after a check-in gets it (and its alert) right after the greeting, then
``answers`` and a client's pause; a client who blocked the bot is reported in plain words. Slack: a coach whose
Slack identity is added to the config later gets what waited at the next sweep, the check-in summary's quotes
stay inert, ``answers`` answers; a client's stop is told, and a client Slack refuses is reported in plain words.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from adapters.telegram import TelegramAdapter
from bot.app.builder import Bot
from bot.config import load_config
from bot.config.question_sets import load_question_sets
from bot.dashboard.access import Access
from bot.store import invites
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import FakeSlack, Posted
from tests.fakes.fake_telegram import FakeTelegram, SentMessage

SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: Progress, hope, focus, trust at the bottom, perspective, support; then the repair question and the note.
URGENT = ["4", "4", "4", "1", "4", "4"]

TELEGRAM_CONFIG = """
platforms:
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, telegram: {}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    telegram: {}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
"""
DANA_CHAT, MAYA_CHAT = 5001, 6001

#: Maya starts with only a Telegram identity and no bound chat; the reload gives her a Slack one.
SLACK_CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, MAYA_IDENTITY}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
"""
DANA, MAYA = "U0DANA0001", "U0MAYA0001"
PUBLIC = "https://coach.example.org"
DASHBOARD = f"dashboard: {{listen: '127.0.0.1:0', public_url: '{PUBLIC}'}}\n"
#: The coach's reply to ``dashboard``, typed or pressed: a one-time link.
LINK = re.compile(re.escape(PUBLIC) + r"/dashboard/open\?t=([A-Za-z0-9_-]+)")


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (ten seconds at most) until ``check`` holds."""
    async with asyncio.timeout(10.0):
        while not await check():  # noqa: ASYNC110 - the conditions are in the database and the fake server
            await asyncio.sleep(0.02)


# ---- Telegram ---------------------------------------------------------------------------------------------


@pytest.fixture
async def telegram_bot(
    database_target: DatabaseTarget, tmp_path: Path
) -> AsyncIterator[tuple[FakeTelegram, Bot, ManualClock]]:
    async with telegram_runtime(database_target, tmp_path, TELEGRAM_CONFIG) as running:
        yield running


@asynccontextmanager
async def telegram_runtime(
    database_target: DatabaseTarget, tmp_path: Path, config: str
) -> AsyncIterator[tuple[FakeTelegram, Bot, ManualClock]]:
    path = tmp_path / "config.yaml"
    path.write_text(config, encoding="utf-8")
    clock = ManualClock(SLOT)
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        runtime = runtime_for(
            path, database_target.create(), clock, {"telegram": TelegramAdapter(fake.token, fake.api_url)}
        )
        await runtime.start()
        try:
            yield fake, runtime, clock
        finally:
            await runtime.stop()


async def telegram_says(fake: FakeTelegram, runtime: Bot, chat_id: int, more_than: int) -> list[SentMessage]:
    async def more() -> bool:
        await runtime.outbox.drain()
        return len(fake.sent_to(chat_id)) > more_than

    await eventually(more)
    return fake.sent_to(chat_id)


async def telegram_bind(
    fake: FakeTelegram, runtime: Bot, clock: ManualClock, kind: str, person: str, chat: int
) -> None:
    async with runtime.database.transaction() as session:
        await invites.create_telegram_invite(
            session,
            f"tok-{person}",
            kind,  # type: ignore[arg-type]
            person,
            clock.now() + timedelta(days=7),
            clock.now(),
        )
    fake.push_text(chat, f"/start tok-{person}")


def shown(message: SentMessage) -> str:
    return message.caption or message.text or ""


async def test_telegram_a_coach_who_opens_the_invite_later_gets_the_checkin_and_its_alert(
    telegram_bot: tuple[FakeTelegram, Bot, ManualClock],
) -> None:
    fake, runtime, clock = telegram_bot
    await telegram_bind(fake, runtime, clock, "client", "dana", DANA_CHAT)
    await telegram_says(fake, runtime, DANA_CHAT, 0)
    await runtime.lifecycle.start_checkin("dana", SLOT)
    for reply in [*URGENT, "Be more direct with me", "skip"]:
        before = len(await telegram_says(fake, runtime, DANA_CHAT, 0))
        fake.push_text(DANA_CHAT, reply)
        await telegram_says(fake, runtime, DANA_CHAT, before)
    assert fake.sent_to(MAYA_CHAT) == []  # Maya has not opened her link: nothing could reach her

    await telegram_bind(fake, runtime, clock, "coach", "maya", MAYA_CHAT)
    welcome, summary, alert = await telegram_says(fake, runtime, MAYA_CHAT, 2)
    assert shown(welcome).startswith("Welcome, Maya Chen")
    assert shown(summary).startswith("Dana Whitfield answered the check-in of 23 November 2026:")
    assert shown(summary).endswith("An alert about this check-in follows, quoting what they wrote.")
    assert shown(alert).startswith("Check-in alert for Dana Whitfield (urgent)")
    assert "Be more direct with me" not in shown(summary) and "Be more direct with me" in shown(alert)
    assert alert.photo_size and alert.reply_markup is not None

    fake.push_text(MAYA_CHAT, "answers dana")
    *_, answers = await telegram_says(fake, runtime, MAYA_CHAT, 3)
    assert shown(answers).startswith("Dana Whitfield: the last 1 check-in(s), oldest first.")
    fake.push_text(DANA_CHAT, "pause 2w")
    *_, paused = await telegram_says(fake, runtime, MAYA_CHAT, 4)
    assert shown(paused) == "Dana Whitfield paused check-ins until 7 December 2026."


async def test_telegram_a_client_who_blocked_the_bot_is_reported_in_plain_words(
    telegram_bot: tuple[FakeTelegram, Bot, ManualClock],
) -> None:
    fake, runtime, clock = telegram_bot
    await telegram_bind(fake, runtime, clock, "client", "dana", DANA_CHAT)
    await telegram_bind(fake, runtime, clock, "coach", "maya", MAYA_CHAT)
    await telegram_says(fake, runtime, MAYA_CHAT, 0)
    fake.block(DANA_CHAT)
    await runtime.lifecycle.start_checkin("dana", SLOT)
    [*_, told] = await telegram_says(fake, runtime, MAYA_CHAT, 1)
    assert shown(told).startswith(
        "Dana Whitfield can no longer be reached on Telegram: Dana blocked the bot or deleted the chat with it."
    )
    assert "Forbidden" not in shown(told)


async def signs_in(runtime: Bot, clock: ManualClock, reply: str) -> bool:
    """Whether ``reply`` carries a one-time dashboard link that signs a browser in."""
    found = LINK.search(reply)
    assert found is not None, reply
    return await Access(runtime.database, clock).sign_in(found[1]) is not None


async def telegram_digest(fake: FakeTelegram, runtime: Bot, clock: ManualClock) -> SentMessage:
    """Maya opens her invite; then her weekly digest goes out, and this is it."""
    await telegram_bind(fake, runtime, clock, "coach", "maya", MAYA_CHAT)
    await telegram_says(fake, runtime, MAYA_CHAT, 0)
    clock.set(SLOT + timedelta(minutes=5))
    assert await runtime.housekeeping.send_due_digests() == 1
    *_, digest = await telegram_says(fake, runtime, MAYA_CHAT, 1)
    assert shown(digest).startswith("Weekly digest for Maya Chen")
    return digest


async def test_telegram_the_digest_carries_a_dashboard_button_that_sends_a_fresh_link(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    async with telegram_runtime(database_target, tmp_path, DASHBOARD + TELEGRAM_CONFIG) as (fake, runtime, clock):
        digest = await telegram_digest(fake, runtime, clock)
        assert digest.reply_markup is not None
        [[button]] = digest.reply_markup["inline_keyboard"]
        assert button["text"] == "Open the dashboard"
        before = len(fake.sent_to(MAYA_CHAT))
        fake.push_callback(MAYA_CHAT, digest.message_id, button["callback_data"])
        *_, reply = await telegram_says(fake, runtime, MAYA_CHAT, before)
        assert await signs_in(runtime, clock, shown(reply))


async def test_telegram_without_a_dashboard_the_digest_has_no_button(
    telegram_bot: tuple[FakeTelegram, Bot, ManualClock],
) -> None:
    assert (await telegram_digest(*telegram_bot)).reply_markup is None


# ---- Slack ------------------------------------------------------------------------------------------------


@asynccontextmanager
async def slack_runtime(
    database_target: DatabaseTarget,
    tmp_path: Path,
    maya_identity: str,
    *,
    dashboard: str = "",
    clock: ManualClock | None = None,
) -> AsyncIterator[tuple[FakeSlack, Bot, Path]]:
    path = tmp_path / "config.yaml"
    path.write_text(dashboard + SLACK_CONFIG.replace("MAYA_IDENTITY", maya_identity), encoding="utf-8")
    async with FakeSlack(per_channel_rate=Rate(1.0, burst=50)) as fake:
        fake.add_user(DANA, "dana@example.com", "Dana Whitfield")
        fake.add_user(MAYA, "maya@example.com", "Maya Chen")
        adapter = SlackAdapter(fake.bot_token, app_token=fake.app_token, api_url=fake.api_url)
        runtime = runtime_for(path, database_target.create(), clock or ManualClock(SLOT), {"slack": adapter})
        await runtime.start()
        try:
            await fake.wait_connected()
            yield fake, runtime, path
        finally:
            await runtime.stop()


@pytest.fixture
async def slack_bot(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[tuple[FakeSlack, Bot, Path]]:
    """Maya has no Slack identity yet (only a Telegram one, never bound)."""
    async with slack_runtime(database_target, tmp_path, "telegram: {}") as running:
        yield running


async def slack_says(fake: FakeSlack, runtime: Bot, user: str, more_than: int) -> list[Posted]:
    async def more() -> bool:
        await runtime.outbox.drain()
        return len(fake.sent_to(user)) > more_than

    await eventually(more)
    return fake.sent_to(user)


async def slack_say(fake: FakeSlack, runtime: Bot, user: str, text: str) -> None:
    before = len(fake.sent_to(user))
    envelope = fake.push("events_api", fake.message_event(user, text))
    await fake.wait_acked(envelope)
    await slack_says(fake, runtime, user, before)


async def test_slack_a_coach_whose_identity_is_configured_later_gets_what_waited(
    slack_bot: tuple[FakeSlack, Bot, Path],
) -> None:
    fake, runtime, path = slack_bot
    await runtime.lifecycle.start_checkin("dana", SLOT)
    await slack_says(fake, runtime, DANA, 0)
    for reply in [*URGENT, "Be more direct with me", "*Really* <!channel>\n• Trust was answered 5"]:
        await slack_say(fake, runtime, DANA, reply)
    assert await runtime.housekeeping.release_waiting() == 0  # Maya has no address yet

    path.write_text(SLACK_CONFIG.replace("MAYA_IDENTITY", f"slack: {{user_id: {MAYA}}}"), encoding="utf-8")
    config = load_config(path)
    await runtime.reconfigure(config, load_question_sets(config, path))
    assert await runtime.housekeeping.release_waiting() == 2
    summary, alert = await slack_says(fake, runtime, MAYA, 1)
    assert summary.text.startswith("Dana Whitfield answered the check-in of 23 November 2026:")
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)") and alert.buttons()
    # The client's words arrive once, in the alert, quoted and inert: no mention, no line that reads as the bot's.
    assert "Trust was answered 5" not in summary.text
    assert "<!channel>" not in alert.text and "&lt;!channel&gt;" in alert.text
    assert "\n• Trust was answered 5" not in alert.text

    await slack_say(fake, runtime, MAYA, "answers dana 1")
    reply = fake.sent_to(MAYA)[-1]
    assert reply.text.startswith("Dana Whitfield: the last 1 check-in(s), oldest first.")
    assert "trust 1" in reply.text
    # `answers` quotes every note line by line behind "> ", inert too.
    assert "<!channel>" not in reply.text and "&lt;!channel&gt;" in reply.text
    assert "\n&gt; • Trust was answered 5" in reply.text
    assert "\n• Trust was answered 5" not in reply.text


async def test_slack_a_client_slack_refuses_is_reported_in_plain_words_and_stop_is_told(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    async with slack_runtime(database_target, tmp_path, f"slack: {{user_id: {MAYA}}}") as (fake, runtime, _):
        await runtime.lifecycle.start_checkin("dana", SLOT)
        await slack_says(fake, runtime, DANA, 0)
        await slack_say(fake, runtime, DANA, "stop")
        [stopped] = await slack_says(fake, runtime, MAYA, 0)
        assert stopped.text.startswith('Dana Whitfield sent "stop": check-ins to them have ended')
        await slack_say(fake, runtime, DANA, "resume")
        fake.fail_next("chat.postMessage", 200, error="user_disabled")
        await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1))
        *_, told = await slack_says(fake, runtime, MAYA, 2)
        assert told.text.startswith(
            "Dana Whitfield can no longer be reached on Slack: Dana's account there is closed or disabled."
        )
        assert "user_disabled" not in told.text


async def test_slack_the_digest_carries_a_dashboard_button_that_sends_a_fresh_link(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    clock = ManualClock(SLOT + timedelta(minutes=5))
    maya = f"slack: {{user_id: {MAYA}}}"
    async with slack_runtime(database_target, tmp_path, maya, dashboard=DASHBOARD, clock=clock) as (fake, runtime, _):
        assert await runtime.housekeeping.send_due_digests() == 1
        [digest] = await slack_says(fake, runtime, MAYA, 0)
        assert digest.text.startswith("Weekly digest for Maya Chen")
        assert [b["text"]["text"] for b in digest.buttons()] == ["Open the dashboard"]
        envelope = fake.push("interactive", fake.block_actions(MAYA, digest, '"v":"dashboard"}'))
        await fake.wait_acked(envelope)
        *_, reply = await slack_says(fake, runtime, MAYA, 1)
        assert await signs_in(runtime, clock, reply.text)
