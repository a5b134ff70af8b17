"""The Slack adapter end to end: real slack-bolt and slack-sdk, real runtime and database, a fake Slack.

Nothing is patched: in Socket Mode the adapter opens a WebSocket to the fake server, in HTTP mode the fake
posts signed requests to the adapter's own server, the runtime stores what happens, and the outbox (drained
by the test) sends through the adapter's Web API client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import func, select

from adapters.slack import HttpSettings, SlackAdapter
from adapters.slack_blocks import button_value, escape, parse_button_value
from adapters.telegram import TelegramAdapter
from bot.app.builder import Bot
from bot.app.platforms import platform_adapters
from bot.config import load_config
from bot.contract.adapter import AdapterStartError, SendError
from bot.contract.messages import Choice, InboundChoice, InboundEvent, InboundText, OutboundMessage
from bot.store import Database
from bot.store.models import Answer, OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import BOT_ID, BOT_USER, FakeSlack, Posted
from tests.support.practice import DANA, MAYA, SLOT, write_config
from tests.test_alert_policy import FORGED_ALERT_STARTS, forged_note_alert

pytestmark = pytest.mark.integration

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly:
    every: 1w
    on: [mon]
    at: "09:00"
coaches:
  - id: maya
    name: Maya Chen
    timezone: Europe/London
    slack: {user_id: U0MAYA0001}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {email: dana@example.com}
    goals:
      - id: delegate
        title: Delegate the quarterly planning
"""

MANIFEST = Path(__file__).resolve().parent.parent / "adapters" / "slack_manifest.yaml"
#: The bot scope each Web API method the adapter calls needs (auth.test and apps.connections.open need none).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "conversations.history": "im:history",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
UNSCOPED = {"auth.test", "apps.connections.open"}

STRANGER = "U0WHO00001"


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (ten seconds at most) until ``check`` holds."""
    async with asyncio.timeout(10.0):
        while not await check():  # noqa: ASYNC110 - the conditions are in the database and the fake server
            await asyncio.sleep(0.02)


def workspace(fake: FakeSlack) -> None:
    fake.add_user(DANA, "dana@example.com", "Dana Whitfield")
    fake.add_user(MAYA, "maya@example.com", "Maya Chen")
    fake.add_user(STRANGER, "who@example.com", "Someone Else")


@dataclass
class Setup:
    mode: str
    fake: FakeSlack
    adapter: SlackAdapter
    runtime: Bot
    clock: ManualClock
    database: Database

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}/slack/events"

    async def deliver(self, body: dict[str, Any], *, interactive: bool = False) -> dict[str, Any]:
        """Hand Slack's payload to the adapter the way this mode does; return what to redeliver."""
        if self.mode == "socket":
            envelope = self.fake.push("interactive" if interactive else "events_api", body)
            await self.fake.wait_acked(envelope)
            return envelope
        status, _ = await self.fake.post_signed(self.events_url, body, interactive=interactive)
        assert status == 200
        return body

    async def redeliver(self, delivered: dict[str, Any], *, interactive: bool = False) -> None:
        """What Slack does after a missed ack: the same event again (a new envelope, or a retry header)."""
        if self.mode == "socket":
            await self.fake.wait_acked(self.fake.redeliver(delivered))
            return
        status, _ = await self.fake.post_signed(self.events_url, delivered, interactive=interactive, retry_num=1)
        assert status == 200


def make_adapter(fake: FakeSlack, mode: str, **options: Any) -> SlackAdapter:
    if mode == "socket":
        return SlackAdapter(fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, **options)
    return SlackAdapter(
        fake.bot_token,
        mode="http",
        signing_secret=fake.signing_secret,
        api_url=fake.api_url,
        http=HttpSettings("127.0.0.1", 0),  # the system's pick, read back as adapter.http_port
        **options,
    )


@pytest.fixture(params=["socket", "http"])
async def setup(
    request: pytest.FixtureRequest, database_target: DatabaseTarget, tmp_path: Path
) -> AsyncIterator[Setup]:
    path = write_config(tmp_path, CONFIG)
    clock = ManualClock(SLOT)
    # A check-in opens with several messages at once; the per-channel limit is the subject of its own test.
    async with FakeSlack(per_channel_rate=Rate(1.0, burst=50)) as fake:
        workspace(fake)
        adapter = make_adapter(fake, request.param)
        database = database_target.create()
        runtime = runtime_for(path, database, clock, {"slack": adapter})
        await runtime.start()
        try:
            if request.param == "socket":
                await fake.wait_connected()
            yield Setup(request.param, fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


async def bot_says(s: Setup, user: str, before: int) -> list[Posted]:
    """Drain the outbox until the bot has posted more than ``before`` messages in ``user``'s DM; return them."""

    async def more() -> bool:
        await s.runtime.outbox.drain()
        return len(s.fake.sent_to(user)) > before

    await eventually(more)
    return s.fake.sent_to(user)


async def count(database: Database, entity: type[object]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


def with_buttons(s: Setup, user: str) -> Posted:
    return next(m for m in reversed(s.fake.sent_to(user)) if m.buttons())


async def press(s: Setup, user: str, value: str) -> dict[str, Any]:
    """Press the button for ``value`` on the newest message with buttons; wait until it is updated.

    A check-in opens with several messages, and the caller may have seen only the first posted: wait for one with
    buttons (pressing with none posted yet made the test fail, not the bot)."""

    async def asked() -> bool:
        await s.runtime.outbox.drain()
        return any(m.buttons() for m in s.fake.sent_to(user))

    await eventually(asked)
    question = with_buttons(s, user)
    payload = s.fake.block_actions(user, question, f'"v":"{value}"}}')
    delivered = await s.deliver(payload, interactive=True)

    async def updated() -> bool:
        return bool(question.edits)

    await eventually(updated)
    return delivered


async def say(s: Setup, user: str, text: str) -> dict[str, Any]:
    return await s.deliver(s.fake.message_event(user, text))


async def ignored_as_duplicate(caplog: pytest.LogCaptureFixture, event_key: str) -> None:
    async def logged() -> bool:
        return any(f"duplicate slack event {event_key} ignored" in r.getMessage() for r in caplog.records)

    await eventually(logged)


async def test_checkin_buttons_note_coach_alert_duplicates_and_a_429_storm(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    s = setup
    caplog.set_level(logging.INFO, logger="bot.runtime.inbound")
    # A storm of 429s on the first posts: the outbox waits as told and sends each message once.
    s.fake.fail_next("chat.postMessage", 429, times=4, retry_after=3)
    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None

    async def opened() -> bool:
        await s.runtime.outbox.drain()
        if any(m.buttons() for m in s.fake.sent_to(DANA)):
            return True
        s.clock.advance(timedelta(seconds=4))
        return False

    await eventually(opened)
    limited = [c for c in s.fake.calls_to("chat.postMessage") if c.status == 429]
    assert len(limited) == 4
    opening = s.fake.sent_to(DANA)
    assert len({m.text for m in opening}) == len(opening)  # nothing posted twice
    assert [c.method for c in s.fake.calls[:3] if c.method.startswith("users.")] == ["users.lookupByEmail"]
    question = opening[-1]
    assert question.metadata is not None and question.metadata["event_type"] == "checkin_outbox"
    values = [parse_button_value(b["value"]) for b in question.buttons()]
    assert [(v.checkin_id, v.step_key, v.value) for v in values if v][:5] == [
        (checkin_id, "progress:delegate", str(n)) for n in range(1, 6)
    ]

    first = await press(s, DANA, "4")
    [update] = question.edits
    assert not question.buttons() and question.blocks[-1]["type"] == "context"
    assert question.blocks[-1]["elements"][0]["text"].endswith("4 · Good*")
    assert update["channel"] == s.fake.dm_channel(DANA)
    sent = len(await bot_says(s, DANA, len(opening)))

    # Slack delivers the same press again: it acts once.
    await s.redeliver(first, interactive=True)
    await ignored_as_duplicate(caplog, f"action:{question.channel}:{question.ts}")
    await s.runtime.outbox.drain()
    assert len(s.fake.sent_to(DANA)) == sent
    assert await count(s.database, Answer) == 1

    for value in ["4", "4", "1", "4", "4"]:
        before = len(s.fake.sent_to(DANA))
        await press(s, DANA, value)
        await bot_says(s, DANA, before)
    before = len(s.fake.sent_to(DANA))
    note = await say(s, DANA, "Be more direct with me")
    await bot_says(s, DANA, before)
    await s.redeliver(note)
    await ignored_as_duplicate(caplog, str(note["payload"]["event_id"] if s.mode == "socket" else note["event_id"]))
    before = len(s.fake.sent_to(DANA))
    await say(s, DANA, "Thanks")
    await bot_says(s, DANA, before)

    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert record.checkin.status == "completed"
    answers = {a.step_key: (a.value, a.text) for a in record.answers}
    assert answers["trust"] == (1, None)
    assert answers["progress:delegate"] == (4, None)
    assert answers["repair"] == (None, "Be more direct with me")
    assert await count(s.database, Answer) == len(record.answers)
    [alert] = record.alerts
    assert alert.severity == "urgent"

    to_coach = await bot_says(s, MAYA, 1)  # the check-in's summary, then the alert
    assert to_coach[0].text.startswith("Dana Whitfield answered the check-in of")

    async def charted() -> bool:
        await s.runtime.outbox.drain()
        return bool(s.fake.files_to(MAYA))

    await eventually(charted)
    assert any("What changed: trust 1 (floor 2)" in m.text for m in to_coach)
    [chart] = s.fake.files_to(MAYA)
    assert chart.data.startswith(b"\x89PNG") and len(chart.data) > 1000
    # Every outbox row was posted exactly once, whatever was redelivered or rate-limited on the way.
    async with s.database.session() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert all(row.status == "sent" for row in rows)
    assert len(s.fake.sent_to(DANA)) == sum(row.recipient in ("email:dana@example.com", DANA) for row in rows)
    assert len(s.fake.sent_to(MAYA)) == sum(row.recipient == MAYA for row in rows) == 2
    assert {c.method for c in s.fake.calls} <= set(METHOD_SCOPES) | UNSCOPED  # the manifest test covers them

    # The coach acknowledges with the alert's button, twice by Slack's redelivery: it acts once.
    alert_message = with_buttons(s, MAYA)
    labels = [b["text"]["text"] for b in alert_message.buttons()]
    assert labels == ["Acknowledge", "Send a check-in now", "Snooze alerts 7 days"]
    pressed = await press(s, MAYA, f"ack {alert.id}")
    [reply] = (await bot_says(s, MAYA, 2))[2:]
    assert reply.text == "Acknowledged 1 alert(s)."
    # Issue 13: the alert shows it was acknowledged and keeps the buttons still worth pressing.
    assert [b["text"]["text"] for b in alert_message.buttons()] == ["Send a check-in now", "Snooze alerts 7 days"]
    assert any(b["type"] == "context" and b["elements"][0]["text"] == "→ *Acknowledge*" for b in alert_message.blocks)
    await s.redeliver(pressed, interactive=True)
    await ignored_as_duplicate(caplog, f"action:{alert_message.channel}:{alert_message.ts}")
    await s.runtime.outbox.drain()
    assert len(s.fake.sent_to(MAYA)) == 3
    assert (await s.runtime.lifecycle.checkin_record(checkin_id)).alerts[0].acknowledged_by == "coach:maya"
    before = len(s.fake.sent_to(MAYA))
    await say(s, MAYA, "clients")
    [*_, listing] = await bot_says(s, MAYA, before)
    assert listing.text.startswith("Your clients (1):") and "Dana Whitfield (dana)" in listing.text


async def test_a_stranger_is_refused_and_nothing_is_stored(setup: Setup) -> None:
    s = setup
    await say(s, STRANGER, "hello?")

    async def refused() -> bool:
        return len(s.fake.sent_to(STRANGER)) == 1

    await eventually(refused)
    assert "I don't have you on my list" in s.fake.sent_to(STRANGER)[0].text
    assert await count(s.database, ProcessedEvent) == 0
    assert await count(s.database, OutboxMessage) == 0


# ---- the adapter on its own, with a collecting sink ---------------------------------------------------


class Collector:
    def __init__(self) -> None:
        self.events: list[InboundEvent] = []

    async def __call__(self, event: InboundEvent) -> None:
        self.events.append(event)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        workspace(server)
        yield server


async def test_only_new_dm_messages_from_people_are_handled(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    sink = Collector()
    await adapter.start(sink)
    await fake.wait_connected()
    bodies = [
        fake.message_event(DANA, "edited", subtype="message_changed"),
        fake.message_event(DANA, "", subtype="message_deleted"),
        fake.message_event(DANA, "from a bot", subtype="bot_message", bot_id="B0OTHER001"),
        fake.message_event(BOT_USER, "the bot's own", bot_id=BOT_ID),
        fake.message_event(DANA, "in a channel", channel_type="channel", channel="C0GENERAL1"),
        fake.message_event(DANA, "joined", subtype="channel_join"),
        fake.message_event(DANA, "hello <!channel>"),
    ]
    envelopes = [fake.push("events_api", body) for body in bodies]
    for envelope in envelopes:
        await fake.wait_acked(envelope)  # every event is acknowledged, handled or not
    await adapter.stop()  # waits for listeners still running after their ack
    [event] = sink.events
    assert isinstance(event, InboundText)
    assert (event.sender, event.text, event.sender_email) == (DANA, "hello <!channel>", "dana@example.com")
    assert event.event_key == bodies[-1]["event_id"]
    assert len(fake.calls_to("users.info")) == 1


async def test_a_failing_handler_is_acked_once_and_its_text_not_logged(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = make_adapter(fake, "socket", handling_retry_waits=(0.01, 0.01))
    attempts: list[InboundEvent] = []

    async def broken(event: InboundEvent) -> None:
        attempts.append(event)
        raise RuntimeError("the database is away")

    await adapter.start(broken)
    await fake.wait_connected()
    envelope = fake.push("events_api", fake.message_event(DANA, "my private answer"))
    await fake.wait_acked(envelope)
    await adapter.stop()
    assert len(attempts) == 3  # the first try and two more: Slack will not deliver it again
    assert fake.acks.count(envelope["envelope_id"]) == 1
    failures = [r for r in caplog.records if "could not be handled" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.WARNING, logging.ERROR]
    assert all("my private answer" not in r.getMessage() for r in caplog.records)


async def test_a_handler_that_fails_for_a_moment_loses_nothing(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket", handling_retry_waits=(0.01, 0.01))
    handled: list[InboundEvent] = []

    async def flaky(event: InboundEvent) -> None:
        handled.append(event)
        if len(handled) == 1:
            raise RuntimeError("the database is away for a moment")

    await adapter.start(flaky)
    await fake.wait_connected()
    envelope = fake.push("events_api", fake.message_event(DANA, "my answer"))
    await fake.wait_acked(envelope)
    await adapter.stop()
    assert [e.text for e in handled if isinstance(e, InboundText)] == ["my answer", "my answer"]


async def test_a_refused_email_lookup_still_hands_the_message_on(fake: FakeSlack) -> None:
    """Slack will not say who it is (a deactivated profile, a guest); a person configured by user id is still
    served, and a failure that may pass (a missing scope, a 5xx) is tried again instead."""
    adapter = make_adapter(fake, "socket")
    handled: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> None:
        handled.append(event)

    fake.fail_next("users.info", 200, error="user_not_found")
    await adapter.start(sink)
    await fake.wait_connected()
    envelope = fake.push("events_api", fake.message_event(DANA, "hello"))
    await fake.wait_acked(envelope)
    await adapter.stop()
    [event] = handled
    assert isinstance(event, InboundText) and event.sender == DANA and event.sender_email is None


async def test_a_refused_token_fails_the_start(fake: FakeSlack) -> None:
    wrong_bot = SlackAdapter("xoxb-wrong", app_token=fake.app_token, api_url=fake.api_url)
    with pytest.raises(AdapterStartError, match=r"^Slack refused the bot token: invalid_auth$"):
        await wrong_bot.start(Collector())
    wrong_app = SlackAdapter(fake.bot_token, app_token="xapp-wrong", api_url=fake.api_url)
    with pytest.raises(AdapterStartError, match=r"^Slack refused the app token: invalid_auth$"):
        await wrong_app.start(Collector())
    assert fake.connections == 0
    assert [c.error for c in fake.calls_to("apps.connections.open")] == ["invalid_auth"]


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_the_web_api_calls_share_one_connection(fake: FakeSlack, mode: str) -> None:
    """slack-sdk opens a session (and a connection) per call unless given one: the adapter gives it one."""
    adapter = make_adapter(fake, mode)
    await adapter.start(Collector())
    try:
        for n in range(3):
            await adapter.send(OutboundMessage("slack", "U0DANA0001", f"message {n}"))
    finally:
        await adapter.stop()
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert len(set(fake.api_connections)) == 1, fake.api_connections


async def test_socket_mode_reconnects_after_a_drop_and_on_request(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    sink = Collector()
    await adapter.start(sink)
    try:
        await fake.wait_connected()
        await fake.drop_sockets()
        # Pushed while no socket is open: Slack keeps it and delivers it on the new connection.
        pending = fake.push("events_api", fake.message_event(DANA, "after the drop"))
        await fake.wait_connected(2)
        await fake.wait_acked(pending)
        await fake.ask_to_reconnect()
        await fake.wait_connected(3)
        await fake.wait_acked(fake.push("events_api", fake.message_event(DANA, "after the refresh")))

        async def both() -> bool:
            return len(sink.events) == 2

        await eventually(both)
    finally:
        await adapter.stop()
    assert [e.text for e in sink.events if isinstance(e, InboundText)] == ["after the drop", "after the refresh"]
    assert len(fake.calls_to("apps.connections.open")) == 3


async def test_http_mode_verifies_signatures_and_answers_health_checks(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "http")
    sink = Collector()
    await adapter.start(sink)
    try:
        url = f"http://127.0.0.1:{adapter.http_port}/slack/events"
        body = fake.message_event(DANA, "signed")
        assert (await fake.post_signed(url, body, secret="not-the-secret"))[0] == 401
        assert (await fake.post_signed(url, body, age=6 * 60))[0] == 401  # older than five minutes
        challenge = {"token": "unused", "challenge": "c-123", "type": "url_verification"}
        status, text = await fake.post_signed(url, challenge)
        assert status == 200 and "c-123" in text
        assert (await fake.post_signed(url, body))[0] == 200

        async def arrived() -> bool:
            return bool(sink.events)

        await eventually(arrived)
        health_url = f"http://127.0.0.1:{adapter.http_port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(health_url) as health:
            assert health.status == 200
    finally:
        await adapter.stop()
    assert [e.text for e in sink.events if isinstance(e, InboundText)] == ["signed"]


async def test_coach_buttons_and_escaped_client_words(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    sink = Collector()
    await adapter.start(sink)
    try:
        await fake.wait_connected()
        words = "Dana wrote: <!channel> this is useless <@U0MAYA0001> & <https://evil.example|click>"
        alert = OutboundMessage(
            "slack",
            MAYA,
            words,
            choices=(
                Choice("ack 12", "Acknowledge"),
                Choice("checkin dana", "Check in now"),
                Choice("snooze 12", "Snooze"),
            ),
            step_key="coach",
            audience="coach",
            outbox_id=12,
        )
        await adapter.send(alert)
        [posted] = fake.sent_to(MAYA)
        assert "<" not in posted.text and "<!channel>" not in str(posted.blocks)
        assert posted.blocks[0]["text"]["text"] == escape(words)
        assert "&lt;!channel&gt;" in posted.text and "&amp;" in posted.text
        assert [b["text"]["text"] for b in posted.buttons()] == ["Acknowledge", "Check in now", "Snooze"]
        envelope = fake.push("interactive", fake.block_actions(MAYA, posted, '"v":"snooze 12"}'))
        await fake.wait_acked(envelope)

        async def updated() -> bool:
            return bool(posted.edits)

        await eventually(updated)
    finally:
        await adapter.stop()
    [choice] = sink.events
    assert isinstance(choice, InboundChoice)
    assert (choice.sender, choice.checkin_id, choice.step_key, choice.value) == (MAYA, 0, "coach", "snooze 12")
    assert choice.event_key == f"action:{posted.channel}:{posted.ts}"
    # A coach's buttons are commands, not one answer: the pressed one goes and shows, the others stay (issue 13).
    assert [b["text"]["text"] for b in posted.buttons()] == ["Acknowledge", "Check in now"] and "Snooze" in posted.text


async def test_an_ambiguous_post_is_found_in_history_instead_of_posted_again(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket", timeout=1)
    message = OutboundMessage("slack", DANA, "How was this week?", outbox_id=41)
    fake.stall_next("chat.postMessage")  # the answer never comes (until the fake stops)
    with pytest.raises(SendError) as raised:
        await adapter.send(message)
    assert raised.value.ambiguous and not raised.value.permanent
    [stored] = fake.sent_to(DANA)  # Slack did accept it
    assert await adapter.send(message) == stored.ts
    assert len(fake.sent_to(DANA)) == 1
    [history] = fake.calls_to("conversations.history")
    assert str(history.body.get("include_all_metadata")) in ("1", "true", "True")
    # A send that was never ambiguous does not search history.
    await adapter.send(OutboundMessage("slack", DANA, "Another", outbox_id=42))
    assert len(fake.calls_to("conversations.history")) == 1
    assert len(fake.sent_to(DANA)) == 2


async def test_a_failed_chart_upload_is_retried_without_posting_twice(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    message = OutboundMessage("slack", MAYA, "Alert", image_png=png, audience="coach", outbox_id=7)
    fake.fail_next("files.completeUploadExternal", 500)
    with pytest.raises(SendError) as raised:
        await adapter.send(message)
    assert not raised.value.permanent
    [posted] = fake.sent_to(MAYA)
    assert await adapter.send(message) == posted.ts
    assert len(fake.sent_to(MAYA)) == 1
    [chart] = fake.files_to(MAYA)
    assert chart.data == png
    assert [c.method for c in fake.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_errors_are_classified_for_the_outbox(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    hello = OutboundMessage("slack", DANA, "hello")
    fake.fail_next("chat.postMessage", 429, retry_after=7)
    with pytest.raises(SendError) as limited:
        await adapter.send(hello)
    assert limited.value.retry_after == 7.0 and not limited.value.permanent
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429]  # one request: no SDK retry
    fake.fail_next("chat.postMessage", 503)
    with pytest.raises(SendError) as unavailable:
        await adapter.send(hello)
    assert not unavailable.value.permanent and not unavailable.value.ambiguous
    fake.fail_next("chat.postMessage", 200, error="is_archived")
    with pytest.raises(SendError) as archived:
        await adapter.send(hello)
    assert archived.value.permanent
    with pytest.raises(SendError) as unknown:
        await adapter.send(OutboundMessage("slack", "email:nobody@example.com", "hello"))
    assert unknown.value.permanent and "users_not_found" in unknown.value.reason
    fake.bot_token = "xoxb-rotated"
    with pytest.raises(SendError) as refused:
        await adapter.send(hello)
    # The token is the admin's to fix: the message waits instead of its recipient being marked unreachable.
    assert not refused.value.permanent and refused.value.scope == "global" and refused.value.retry_after


async def test_the_fake_limits_posts_per_channel(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    for n in range(3):  # a short burst is allowed
        await adapter.send(OutboundMessage("slack", DANA, f"burst {n}"))
    with pytest.raises(SendError, match="rate limit") as raised:
        await adapter.send(OutboundMessage("slack", DANA, "one too many"))
    assert raised.value.retry_after is not None and raised.value.retry_after >= 1
    await adapter.send(OutboundMessage("slack", MAYA, "another channel is not limited"))


async def test_an_email_address_is_resolved_once_and_again_when_stale(fake: FakeSlack) -> None:
    adapter = make_adapter(fake, "socket")
    await adapter.send(OutboundMessage("slack", "email:Dana@Example.com", "one"))
    await adapter.send(OutboundMessage("slack", "email:dana@example.com", "two"))
    assert len(fake.calls_to("users.lookupByEmail")) == 1
    assert len(fake.calls_to("conversations.open")) == 1
    # Dana's account is replaced (same e-mail, new user id): the cached id and DM are dropped and resolved again.
    del fake.users[DANA]
    fake.add_user("U0DANA0002", "dana@example.com", "Dana Whitfield")
    await adapter.send(OutboundMessage("slack", "email:dana@example.com", "three"))
    assert [m.text for m in fake.sent_to("U0DANA0002")] == ["three"]
    assert len(fake.calls_to("users.lookupByEmail")) == 2


def test_the_manifest_asks_for_exactly_the_scopes_and_events_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(METHOD_SCOPES.values())
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["message.im"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False  # people can write to it


def test_button_values_round_trip() -> None:
    parsed = parse_button_value(button_value(42, "progress:delegate", "4"))
    assert parsed is not None and (parsed.checkin_id, parsed.step_key, parsed.value) == (42, "progress:delegate", "4")
    parsed = parse_button_value(button_value(None, "coach", "ack 12"))
    assert parsed is not None and (parsed.checkin_id, parsed.step_key, parsed.value) == (0, "coach", "ack 12")
    assert parse_button_value("not json") is None
    assert parse_button_value('{"c": "1", "s": "x", "v": "1"}') is None


# ---- `checkin run` with Slack, as a real process -------------------------------------------------------


@pytest.mark.process
async def test_checkin_run_sends_a_due_checkin_over_slack_and_stops_on_sigterm(fake: FakeSlack, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    slot = (now - timedelta(minutes=2)).replace(second=0, microsecond=0)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite3'}"
    config = tmp_path / "config.yaml"
    config.write_text(
        f'database: {{url: "{database_url}"}}\n'
        + CONFIG.replace(
            'app_token: "${SLACK_APP_TOKEN}"}', f'app_token: "${{SLACK_APP_TOKEN}}", api_url: "{fake.api_url}"}}'
        )
        .replace("every: 1w", "every: 1d")
        .replace("    on: [mon]\n", "")
        .replace('at: "09:00"', f'at: "{slot:%H:%M}"')
        .replace("Europe/Paris", "UTC"),
        encoding="utf-8",
    )
    # Dana was added an hour before today's slot, so it is due now.
    seeding = runtime_for(config, Database(database_url), ManualClock(slot - timedelta(hours=1)), {}, worker_id="seed")
    await seeding.start()
    await seeding.stop()

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_APP_TOKEN": fake.app_token},
        cwd=tmp_path,  # where the inbound spool (./checkin-spool) goes
    )
    try:

        async def asked() -> bool:
            return any(m.buttons() for m in fake.sent_to(DANA)) or process.returncode is not None

        async with asyncio.timeout(60):  # a hung process fails the test instead of hanging it
            while not await asked():  # noqa: ASYNC110 - polling another process through the fake server
                await asyncio.sleep(0.1)
        assert process.returncode is None, (await process.communicate())[1].decode()[-2000:]
        assert fake.connections >= 1  # Socket Mode, through the URL the fake handed out
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "Traceback" not in err.decode() + out.decode()
    [lookup] = fake.calls_to("users.lookupByEmail")
    assert lookup.body["email"] == "dana@example.com"
    assert fake.sent_to(DANA)[-1].metadata is not None


@pytest.mark.process
async def test_checkin_run_with_a_refused_token_says_so_in_one_line(fake: FakeSlack, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f'database: {{url: "sqlite+aiosqlite:///{tmp_path / "run.sqlite3"}"}}\n'
        + CONFIG.replace(
            'app_token: "${SLACK_APP_TOKEN}"}', f'app_token: "${{SLACK_APP_TOKEN}}", api_url: "{fake.api_url}"}}'
        ),
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot.cli", "run", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_APP_TOKEN": fake.app_token},
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 69
    assert err.decode().strip().splitlines()[-1] == "checkin: Slack refused the bot token: invalid_auth"
    assert "Traceback" not in err.decode()


def test_a_config_with_slack_and_telegram_runs_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.replace(
            "platforms:\n",
            'platforms:\n  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}\n',
        ).replace("  slack: {bot_token", '  slack: {mode: http, signing_secret: "${SLACK_SIGNING_SECRET}", bot_token'),
        encoding="utf-8",
    )
    for variable, value in {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_SIGNING_SECRET": "fake-signing-secret",
        "TELEGRAM_BOT_TOKEN": "123456:TEST",
    }.items():
        monkeypatch.setenv(variable, value)
    adapters = platform_adapters(load_config(config))
    assert set(adapters) == {"slack", "telegram"}
    assert isinstance(adapters["slack"], SlackAdapter) and isinstance(adapters["telegram"], TelegramAdapter)


async def test_an_http_port_in_use_fails_the_start_in_one_line(fake: FakeSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        adapter = SlackAdapter(
            fake.bot_token,
            mode="http",
            signing_secret=fake.signing_secret,
            api_url=fake.api_url,
            http=HttpSettings("127.0.0.1", port),
        )
        with pytest.raises(AdapterStartError, match=rf"^Slack HTTP mode cannot listen on 127\.0\.0\.1:{port}: "):
            await adapter.start(Collector())


async def test_a_forged_note_in_an_alert_stays_one_quoted_line(fake: FakeSlack) -> None:
    """The core keeps the client's words on the line it starts; Slack's markup characters stay inert in it."""
    adapter = make_adapter(fake, "socket")
    message = forged_note_alert()
    await adapter.start(Collector())
    try:
        await fake.wait_connected()
        await adapter.send(OutboundMessage("slack", MAYA, message, step_key="coach", audience="coach", outbox_id=5))
    finally:
        await adapter.stop()
    [posted] = fake.sent_to(MAYA)
    shown = posted.blocks[0]["text"]["text"]
    lines = shown.split("\n")
    assert len(lines) == len(message.splitlines()) == len(FORGED_ALERT_STARTS)
    assert all(line.startswith(escape(start)) for line, start in zip(lines, FORGED_ALERT_STARTS, strict=True))
    assert not any(line.startswith(("&gt;", "```")) for line in lines)
    assert "<" not in shown and "&lt;!channel&gt;" in shown and "```" not in shown
    assert not any(ch in shown for ch in "\u202e\u202c\u200b\u2028\x1b\r")
