"""Hostile and odd input through the real Telegram adapter, the real runtime and database, and the fake Bot API.

Two promises are tested here. Echo safety: the coach's alert quotes the client's own words, and since the
adapter sends without ``parse_mode``, HTML, Markdown or an ``@everyone`` a client typed reach the coach as
the characters typed, and a quote too long for Telegram shortens the alert instead of losing it. Robust
polling: stickers, edits, group chats, garbage or over-long button data, presses from strangers and update
kinds the bot never asked for are answered or ignored, never crash the adapter, and polling carries on.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.telegram import TelegramAdapter, fit_text, telegram_length
from bot.contract.messages import InboundEvent, InboundText
from bot.signals.quoting import quote
from bot.store.models import Answer, OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_telegram import BOT_ID, BOT_USERNAME, FakeTelegram, SentMessage
from tests.support.practice import write_config
from tests.test_telegram import (
    CONFIG,
    DANA_CHAT,
    MAYA_CHAT,
    SLOT,
    STRANGER_CHAT,
    WEBHOOK_SECRET,
    Setup,
    bind,
    bot_says,
    eventually,
    webhook_setup,  # noqa: F401 - a fixture, used by name
)

pytestmark = pytest.mark.integration

MARKUP = (
    "<b>x</b> *x* _y_ `z` [link](http://evil.example) <https://evil.example|click> <a href='tg://x'>a</a> "
    "@everyone <!channel> \u202eevil\u202c &amp; #tag"
)


@pytest.fixture
async def tg(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Setup]:
    path = write_config(tmp_path, CONFIG)
    clock = ManualClock(SLOT)
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        database = database_target.create()
        runtime = runtime_for(path, database, clock, {"telegram": adapter})
        await runtime.start()
        try:
            yield Setup(fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


async def type_answers(s: Setup, *texts: str) -> None:
    for text in texts:
        before = len(s.fake.sent_to(DANA_CHAT))
        s.fake.push_text(DANA_CHAT, text)
        await bot_says(s, DANA_CHAT, before)


async def alert_after_note(s: Setup, note: str) -> tuple[int, list[SentMessage]]:
    """Dana answers trust 1 and writes ``note`` to the repair question; return the check-in and Maya's messages."""
    await bind(s, "client", "dana", DANA_CHAT)
    await bind(s, "coach", "maya", MAYA_CHAT)
    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    await bot_says(s, DANA_CHAT, 1)
    await type_answers(s, "4", "4", "4", "1", "4", "4", note, "skip")
    return checkin_id, await bot_says(s, MAYA_CHAT, 1)


def coach_calls(s: Setup) -> list[dict[str, Any]]:
    return [c.body for c in s.fake.calls if c.method in ("sendMessage", "sendPhoto") and c.body["chat_id"] == MAYA_CHAT]


async def failed_sends(s: Setup) -> int:
    async with s.database.session() as session:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
        return int(await session.scalar(query) or 0)


async def test_markup_in_a_note_reaches_the_coach_verbatim_and_inert(tg: Setup) -> None:
    s = tg
    checkin_id, to_coach = await alert_after_note(s, MARKUP)
    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert {a.step_key: a.text for a in record.answers}["repair"] == MARKUP
    [alert] = [m for m in to_coach if m.photo_size]
    assert alert.caption is not None
    # Verbatim but for the bidi override, which would reorder the alert's line (``bot.signals.quoting``).
    assert f"Dana Whitfield wrote (repair): “{quote(MARKUP)}”" in alert.caption.splitlines()
    assert quote(MARKUP) == MARKUP.replace("\u202e", "").replace("\u202c", "") and "\u202e" not in alert.caption
    for body in coach_calls(s):
        assert body.get("parse_mode") is None
        assert not body.get("entities") and not body.get("caption_entities")
    assert await failed_sends(s) == 0


async def test_a_forty_thousand_character_note_shortens_the_alert_and_is_stored_whole(tg: Setup) -> None:
    s = tg
    note = "I have a lot to say. " * 1905  # 40,005 characters
    checkin_id, to_coach = await alert_after_note(s, note)
    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert {a.step_key: a.text for a in record.answers}["repair"] == note.strip()
    chart, text = to_coach[-2:]
    assert chart.photo_size and chart.caption is None
    assert text.text is not None and text.text.startswith("Check-in alert for Dana Whitfield (urgent)")
    assert text.text.endswith("…") and telegram_length(text.text) <= 4096
    assert await failed_sends(s) == 0


async def test_an_emoji_note_too_long_for_a_caption_sends_the_chart_then_the_text(tg: Setup) -> None:
    """Under 1,024 characters but over 1,024 UTF-16 units: the caption would be refused, the alert lost."""
    s = tg
    note = "😟" * 600
    _, to_coach = await alert_after_note(s, note)
    chart, text = to_coach[-2:]
    assert chart.photo_size and chart.caption is None
    assert text.text is not None and f"Dana Whitfield wrote (repair): “{note}”" in text.text
    assert await failed_sends(s) == 0


def test_fit_text_keeps_short_texts_and_cuts_long_ones_within_the_limit() -> None:
    assert fit_text("hello") == "hello"
    assert fit_text("a" * 4096) == "a" * 4096
    assert fit_text("a" * 4097) == "a" * 4095 + "…"
    cut = fit_text("😀" * 3000)
    assert cut == "😀" * 2047 + "…" and telegram_length(cut) == 4095
    assert fit_text("word " * 2000, limit=12) == "word word w…"


# ---- inbound updates the bot did not expect -------------------------------------------------------------

_ids = itertools.count(10_000)
POLL = {"id": "p", "question": "?", "options": [], "total_voter_count": 0, "is_closed": False, "is_anonymous": True}
POLL |= {"type": "regular", "allows_multiple_answers": False}


def _chat(chat_id: int, kind: str = "private") -> dict[str, Any]:
    if kind == "private":
        return {"id": chat_id, "type": kind, "first_name": "User"}
    return {"id": chat_id, "type": kind, "title": "A group"}


def _message(chat_id: int, kind: str = "private", **content: Any) -> dict[str, Any]:
    sender = {"id": abs(chat_id), "is_bot": False, "first_name": "User"}
    return {"message_id": next(_ids), "date": int(time.time()), "chat": _chat(chat_id, kind), "from": sender} | content


def _callback(chat_id: int, data: str | None, *, with_message: bool = True, kind: str = "private") -> dict[str, Any]:
    query: dict[str, Any] = {
        "id": f"cbq-{next(_ids)}",
        "from": {"id": abs(chat_id), "is_bot": False, "first_name": "User"},
        "chat_instance": "ci",
    }
    if data is not None:
        query["data"] = data
    if with_message:
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "Check-in", "username": BOT_USERNAME}
        query["message"] = {"message_id": 1, "date": int(time.time()), "chat": _chat(chat_id, kind), "from": bot}
    else:
        query["inline_message_id"] = "inline-1"
    return {"callback_query": query}


async def test_odd_updates_are_answered_or_ignored_and_polling_carries_on(tg: Setup) -> None:
    s = tg
    await bind(s, "client", "dana", DANA_CHAT)
    checkin_id = await s.runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    opening = await bot_says(s, DANA_CHAT, 1)
    sticker = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1}
    sticker |= {"is_animated": False, "is_video": False}
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    replied_to = [
        {"message": _message(DANA_CHAT, sticker=sticker)},
        {"message": _message(DANA_CHAT, photo=photo, caption="<b>5</b> @everyone")},
        {"message": _message(DANA_CHAT, photo=photo)},
    ]
    ignored = [
        {"edited_message": _message(DANA_CHAT, text="5", edit_date=int(time.time()))},
        {"message": _message(-100123, "supergroup", text="4")},
        {"channel_post": _message(-100456, "channel", text="4")},
        {"poll": POLL},  # without a field python-telegram-bot requires: it cannot read this update
        {"message": {"message_id": 1, "text": "4"}},  # no chat and no date: nor this one
        {"some_future_kind": {"anything": [1, 2, 3]}},
        _callback(DANA_CHAT, "garbage"),
        _callback(DANA_CHAT, ""),
        _callback(DANA_CHAT, None),
        _callback(DANA_CHAT, "x" * 10_000),
        _callback(DANA_CHAT, f"{checkin_id}:progress:delegate:4", kind="supergroup"),
        _callback(STRANGER_CHAT, "not:even:close:"),
    ]
    stale = [
        _callback(DANA_CHAT, f"{checkin_id}:no-such-step:4"),
        _callback(DANA_CHAT, "99999999999999999999999999:progress:delegate:4"),
        _callback(DANA_CHAT, f"{checkin_id}:{'p' * 5000}:4", with_message=False),
    ]
    stranger = [
        {"message": _message(STRANGER_CHAT, text="<!channel> @everyone")},
        _callback(STRANGER_CHAT, f"{checkin_id}:progress:delegate:1"),
    ]
    for update in [*replied_to, *ignored, *stale, *stranger]:
        s.fake.push_update(update)
    s.fake.push_text(DANA_CHAT, "4")  # polling still runs: the real answer after all of that is taken

    async def answered() -> bool:
        await s.runtime.outbox.drain()
        async with s.database.session() as session:
            return bool(await session.scalar(select(func.count()).select_from(Answer)))

    await eventually(answered)
    await s.runtime.outbox.drain()
    record = await s.runtime.lifecycle.checkin_record(checkin_id)
    assert [(a.step_key, a.value) for a in record.answers] == [("progress:delegate", 4)]

    # One reply per text-less message and per stale press, each a hint with the question again, then the answer.
    texts = [m.text or "" for m in s.fake.sent_to(DANA_CHAT)[len(opening) :]]
    hints = [t for t in texts if t.startswith("Please answer with a number from 1 to 5")]
    stale_replies = [t for t in texts if t.startswith("That button belongs to an earlier question")]
    assert (len(hints), len(stale_replies)) == (len(replied_to), len(stale))
    assert texts[-1].startswith("(2/7) How hopeful")

    # The stranger is refused twice over and nothing about them is stored. Their chat is handled beside Dana's,
    # not before it, so their refusals may still be on their way when her answer is in.
    async def stranger_refused() -> bool:
        return len(s.fake.sent_to(STRANGER_CHAT)) >= 2

    await eventually(stranger_refused)
    refusals = [m.text or "" for m in s.fake.sent_to(STRANGER_CHAT)]
    assert len(refusals) == 2 and all("I don't have you on my list" in t for t in refusals)
    async with s.database.session() as session:
        recipients = set((await session.scalars(select(OutboxMessage.recipient))).all())
        events = int(await session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)
    assert recipients == {str(DANA_CHAT)}
    assert events == 1 + len(replied_to) + len(stale) + 1  # the invite, the odd messages, the stale presses, "4"
    assert not s.fake.sent_to(-100123) and not s.fake.sent_to(-100456)
    # Every press got its spinner stopped, strangers' and garbage ones included (the group's is ignored).
    assert (
        len(s.fake.calls_to("answerCallbackQuery"))
        == len([u for u in [*ignored, *stale, *stranger] if "callback_query" in u]) - 1
    )


# ---- webhook mode ---------------------------------------------------------------------------------------


async def post_raw(s: Setup, body: bytes) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    url = s.fake.webhook_delivery_url
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as r:
        return r.status


async def test_the_webhook_answers_odd_bodies_without_handling_them(
    webhook_setup: Setup,  # noqa: F811 - the fixture imported above
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = webhook_setup
    assert await post_raw(s, b"not json") == 400
    assert await post_raw(s, b"\xff\xfe\x00") == 400
    assert await post_raw(s, b"[1, 2, 3]") == 400
    assert await post_raw(s, b'"just a string"') == 400
    # Readable JSON the library cannot read, or an update kind it does not know: confirmed with 200 and
    # ignored, or Telegram would deliver it again and again.
    unreadable = {"update_id": 1, "message": {"message_id": 1, "text": "my private words"}}
    assert await s.fake.post_to_webhook(unreadable) == 200
    assert "update 1 could not be read" in caplog.text
    assert "my private words" not in caplog.text  # logs never hold what a client wrote
    assert await s.fake.post_to_webhook({"update_id": 2, "poll": POLL}) == 200
    assert await s.fake.post_to_webhook({"update_id": 3, "some_future_kind": {}}) == 200
    assert await s.fake.post_to_webhook({"update_id": 4, "message": _message(STRANGER_CHAT, sticker={})}) == 200
    stranger = {"update_id": 5, "message": _message(STRANGER_CHAT, text="<!channel> \x00 @everyone")}
    assert await s.fake.post_to_webhook(stranger) == 200
    assert ["I don't have you on my list" in (m.text or "") for m in s.fake.sent_to(STRANGER_CHAT)] == [True]
    async with s.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_a_press_on_a_message_telegram_no_longer_sends_keeps_its_place_in_the_persons_order() -> None:
    """A button press without its message (an old one) has no chat; it was handled beside the person's other
    updates instead of in turn, so a press and the answer typed after it could be taken in either order."""
    async with FakeTelegram() as fake:
        handled: list[InboundEvent] = []

        async def slow_first(event: InboundEvent) -> None:
            if not handled and not isinstance(event, InboundText):
                await asyncio.sleep(0.3)  # the press takes a while, as a transaction under load does
            handled.append(event)

        fake.push_update(_callback(DANA_CHAT, "7:progress:delegate:4", with_message=False))
        fake.push_text(DANA_CHAT, "4")  # both in the first batch polling fetches
        adapter = TelegramAdapter(fake.token, fake.api_url)
        await adapter.start(slow_first)

        async def both() -> bool:
            return len(handled) == 2

        await eventually(both)
        await adapter.stop()
        assert [type(e).__name__ for e in handled] == ["InboundChoice", "InboundText"]
        assert {e.sender for e in handled} == {str(DANA_CHAT)}
