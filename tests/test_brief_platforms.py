"""``brief CLIENT`` and the brief's chart through the real Slack and Telegram adapters against the fake servers,
on both databases."""

from __future__ import annotations

from tests import test_slack, test_telegram
from tests.test_slack import DANA, MAYA, eventually
from tests.test_slack import SLOT as SLACK_SLOT
from tests.test_telegram import DANA_CHAT, MAYA_CHAT
from tests.test_telegram import SLOT as TELEGRAM_SLOT

#: A one-goal check-in with trust at 1 (an urgent alert), a repair answer and a note.
LOW_TRUST = ["4", "4", "4", "1", "4", "4", "Be more direct with me", "Thanks"]

slack_setup = test_slack.setup
telegram_setup = test_telegram.setup


async def test_brief_on_slack_posts_the_text_and_uploads_the_chart(slack_setup: test_slack.Setup) -> None:
    s = slack_setup
    assert await s.runtime.lifecycle.start_checkin("dana", SLACK_SLOT) is not None
    sent = len(await test_slack.bot_says(s, DANA, 0))
    for text in LOW_TRUST:
        await test_slack.say(s, DANA, text)
        sent = len(await test_slack.bot_says(s, DANA, sent))

    async def alerted() -> bool:
        await s.runtime.outbox.drain()
        return len(s.fake.files_to(MAYA)) == 1

    await eventually(alerted)
    before = len(s.fake.sent_to(MAYA))
    await test_slack.say(s, MAYA, "brief dana")
    [*_, brief] = await test_slack.bot_says(s, MAYA, before)
    assert brief.text.startswith("Brief on Dana Whitfield (no session planned)\n")
    assert "    repair: “Be more direct with me”" in brief.text.splitlines()

    async def charted() -> bool:
        await s.runtime.outbox.drain()
        return len(s.fake.files_to(MAYA)) == 2

    await eventually(charted)
    chart = s.fake.files_to(MAYA)[-1]
    assert chart.data.startswith(b"\x89PNG") and len(chart.data) > 1000


async def test_brief_on_telegram_sends_the_chart_and_the_text(telegram_setup: test_telegram.Setup) -> None:
    s = telegram_setup
    await test_telegram.bind(s, "coach", "maya", MAYA_CHAT)
    await test_telegram.bind(s, "client", "dana", DANA_CHAT)
    before = len(s.fake.sent_to(DANA_CHAT))
    assert await s.runtime.lifecycle.start_checkin("dana", TELEGRAM_SLOT) is not None
    sent = len(await test_telegram.bot_says(s, DANA_CHAT, before))
    for text in LOW_TRUST:
        s.fake.push_text(DANA_CHAT, text)
        sent = len(await test_telegram.bot_says(s, DANA_CHAT, sent))
    alert = len(await test_telegram.bot_says(s, MAYA_CHAT, 1))
    s.fake.push_text(MAYA_CHAT, "brief Dana")
    await test_telegram.bot_says(s, MAYA_CHAT, alert)

    async def complete() -> bool:
        await s.runtime.outbox.drain()
        return any(m.photo_size for m in s.fake.sent_to(MAYA_CHAT)[alert:])

    await test_telegram.eventually(complete)
    replies = s.fake.sent_to(MAYA_CHAT)[alert:]
    words = "\n".join(m.caption or m.text or "" for m in replies)
    assert words.startswith("Brief on Dana Whitfield (no session planned)\n")
    assert "Talking points:" in words and "  • Trust: " in words
    assert any(m.photo_size and m.photo_size > 1000 for m in replies)
