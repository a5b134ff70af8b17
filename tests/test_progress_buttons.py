"""Old buttons go when the client types an answer, and an acknowledged alert keeps the buttons still useful,
through the real Slack and Telegram adapters against the fake servers, on both databases (issue 13, item 6)."""

from __future__ import annotations

from adapters.slack_blocks import parse_button_value
from tests import test_slack, test_telegram
from tests.test_slack import DANA, eventually
from tests.test_slack import SLOT as SLACK_SLOT
from tests.test_telegram import DANA_CHAT
from tests.test_telegram import SLOT as TELEGRAM_SLOT

# The Slack setup (Socket Mode and HTTP) is named ``setup`` in its module; here it is ``slack_setup``.
slack_setup = test_slack.setup
telegram_setup = test_telegram.setup


async def test_a_typed_answer_takes_the_slack_buttons_away(slack_setup: test_slack.Setup) -> None:
    s = slack_setup
    assert await s.runtime.lifecycle.start_checkin("dana", SLACK_SLOT) is not None
    opening = await test_slack.bot_says(s, DANA, 0)
    question = opening[-1]
    assert question.buttons()
    await test_slack.say(s, DANA, "4")
    await test_slack.bot_says(s, DANA, len(opening))

    async def updated() -> bool:
        return bool(question.edits)

    await eventually(updated)
    assert not question.buttons()
    assert question.text == opening[-1].text and "Delegate the quarterly planning" in question.text
    # The next question keeps its buttons: only the one answered by typing lost them.
    following = test_slack.with_buttons(s, DANA)
    assert following.ts != question.ts
    assert [parse_button_value(b["value"]).step_key for b in following.buttons()][:1] == ["hope"]  # type: ignore[union-attr]


async def test_a_typed_answer_takes_the_telegram_keyboard_away(telegram_setup: test_telegram.Setup) -> None:
    s = telegram_setup
    await test_telegram.bind(s, "client", "dana", DANA_CHAT)
    before = len(s.fake.sent_to(DANA_CHAT))
    assert await s.runtime.lifecycle.start_checkin("dana", TELEGRAM_SLOT) is not None
    opening = await test_telegram.bot_says(s, DANA_CHAT, before)
    question = opening[-1]
    assert question.reply_markup
    s.fake.push_text(DANA_CHAT, "4")
    await test_telegram.bot_says(s, DANA_CHAT, len(opening))

    async def edited() -> bool:
        return any(c.body.get("message_id") == question.message_id for c in s.fake.calls_to("editMessageReplyMarkup"))

    await test_telegram.eventually(edited)
    [shown] = [m for m in s.fake.sent_to(DANA_CHAT) if m.message_id == question.message_id]
    assert shown.reply_markup is None
    assert s.fake.sent_to(DANA_CHAT)[-1].reply_markup  # the next question keeps its keyboard
