"""Hostile and odd client input through the real runtime and database (issue 7, part 5).

Every inbound text path of a client — each kind of check-in step, no open check-in, paused, opted out — is fed
what people and platforms really send: 40,000-character messages, control characters and NUL, emoji, right-to-
left and zero-width text, combining marks, Markdown and mrkdwn meant to ping a whole channel, and numbers in
every script. The runtime must never raise, every message gets a reply in the outbox, a valid answer is stored
with its value, an invalid one is not stored and the question is asked again, and a note is stored whole
(40,000 characters fit in both databases; only NUL, which PostgreSQL cannot hold, is dropped).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app.builder import Bot
from bot.contract.messages import InboundChoice, InboundText, OutboundMessage
from bot.conversation.replies import normalize, parse_command
from bot.store import Database
from bot.store.models import Answer, CheckIn, Client, OutboxMessage
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import DANA, SLOT, write_config

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
"""

#: Answers that walk a check-in of the default set to each step: ``trust`` answered 1 makes ``repair`` apply.
PATHS = {
    "progress:delegate": [],
    "hope": ["4"],
    "trust": ["4", "4", "4"],
    "support": ["4", "4", "4", "4", "4"],
    "repair": ["4", "4", "4", "1", "4", "4"],
    "note": ["4", "4", "4", "4", "4", "4"],
}
SCALE_STEPS = ("progress:delegate", "hope", "trust", "support")
TEXT_STEPS = ("repair", "note")

#: Strings with a known meaning to someone: chat markup, bidi and invisible characters, numbers in many forms.
SAMPLES = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "@everyone",
    "@here",
    "<@U0MAYA0001>",
    "*bold*",
    "_it_",
    "~gone~",
    "`code`",
    "```block```",
    "[link](http://x.example)",
    "<https://evil.example|click>",
    "<b>x</b>",
    "&lt;&amp;",
    "\u202eevil\u202c",
    "\u2067مرحبا\u2069",
    "שלום עולם",
    "\u200d",
    "\u200b\u200c\ufeff",
    "e\u0301\u0301\u0301",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\u2028\u2029",
    "\x7f\x85",
    "ﷺ",
    "𒐫",
    "𝟒",
    "４",
    "٤",
    "४",
    "4.0",
    "four",
    "FOUR ",
    " 4 ",
    "4/5",
    "-1",
    "6",
    "1e3",
    "NaN",
    "∞",
    "½",
    "Ⅳ",
    "0x4",
    "4️⃣",
]
HOSTILE = st.one_of(
    st.sampled_from(SAMPLES),
    st.lists(st.one_of(st.sampled_from(SAMPLES), st.text(max_size=4)), min_size=1, max_size=6).map("".join),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80),
    st.builds(lambda piece, times: piece * times, st.sampled_from(SAMPLES), st.integers(50, 1000)),
)
# Each example is a whole conversation on a database, so these take a third of the profile's examples
# (10 in `make test`, many more with HYPOTHESIS_PROFILE=thorough).
HYPOTHESIS = settings(
    max_examples=max(10, settings.default.max_examples // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def stored_note(text: str) -> str:
    """What a note is stored as: whole, trimmed, without NUL (PostgreSQL cannot hold it in text)."""
    return text.replace("\x00", "").strip()


@dataclass
class Sent:
    """What one inbound message led to: the replies queued for it, and the answers stored since."""

    replies: list[OutboundMessage]
    new_answers: list[Answer]


class Chat:
    """Dana's side of the conversation, on one runtime whose database outlives hypothesis examples.

    Each example opens its own check-in at a later slot (superseding the last) and uses fresh event keys,
    so examples do not see each other's answers.
    """

    def __init__(self, runtime: Bot, slack: CollectingAdapter, clock: ManualClock) -> None:
        self.runtime = runtime
        self.slack = slack
        self.clock = clock
        self._keys = itertools.count()
        self._weeks = itertools.count()
        self.checkin_id: int | None = None

    @property
    def database(self) -> Database:
        return self.runtime.database

    def key(self) -> str:
        return f"ev-{next(self._keys)}"

    async def open_at(self, step: str) -> int:
        """Start a new check-in and answer validly up to ``step``; return the check-in id."""
        await self.say("resume")  # undo a pause or stop an earlier example left behind
        slot = SLOT + timedelta(weeks=next(self._weeks))
        self.clock.set(slot)
        checkin_id = await self.runtime.lifecycle.start_checkin("dana", slot)
        assert checkin_id is not None
        self.checkin_id = checkin_id
        for answer in PATHS[step]:
            await self.say(answer)
        assert await self.current_step() == step
        return checkin_id

    async def close_any(self) -> None:
        """Leave no check-in open, as between a client's check-ins."""
        await self.say("resume")
        await self.say("skip all")
        assert await self.open_checkins() == 0

    async def say(self, text: str, key: str | None = None) -> Sent:
        return await self.deliver(InboundText("slack", DANA, key or self.key(), text))

    async def press(self, checkin_id: int, step_key: str, value: str, key: str | None = None) -> Sent:
        return await self.deliver(InboundChoice("slack", DANA, key or self.key(), checkin_id, step_key, value))

    async def deliver(self, event: InboundText | InboundChoice) -> Sent:
        before = await self.answer_ids()
        await self.runtime.inbound.handle(event)
        replies = await self.replies_to(event.event_key)
        await self.runtime.outbox.drain()
        async with self.database.session() as session:
            answers = (await session.scalars(select(Answer).where(Answer.id.not_in(before)))).all()
        return Sent(replies, list(answers))

    async def replies_to(self, event_key: str) -> list[OutboundMessage]:
        """The outbox rows queued in answer to one inbound event, in order."""
        async with self.database.session() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.idempotency_key.like(f"reply:slack:{event_key}:%"))
                    .order_by(OutboxMessage.id)
                )
            ).all()
        return [OutboundMessage.from_payload(row.platform, row.recipient, row.payload) for row in rows]

    async def answer_ids(self) -> list[int]:
        async with self.database.session() as session:
            return list((await session.scalars(select(Answer.id))).all())

    async def answers(self, checkin_id: int) -> dict[str, tuple[int | None, str | None]]:
        record = await self.runtime.lifecycle.checkin_record(checkin_id)
        return {a.step_key: (a.value, a.text) for a in record.answers}

    async def current_step(self) -> str | None:
        """The step the open check-in is on, from its stored state."""
        async with self.database.session() as session:
            checkin = await session.get(CheckIn, self.checkin_id)
            assert checkin is not None and checkin.state is not None
            if checkin.status not in ("sent", "in_progress"):
                return None
            steps, position = checkin.state["steps"], checkin.state["position"]
            return str(steps[position]["key"]) if position < len(steps) else None

    async def open_checkins(self) -> int:
        async with self.database.session() as session:
            query = select(func.count()).select_from(CheckIn).where(CheckIn.status.in_(("sent", "in_progress")))
            return int(await session.scalar(query) or 0)

    async def client(self) -> tuple[datetime | None, datetime | None]:
        """Dana's pause and opt-out, as stored."""
        async with self.database.session() as session:
            client = await session.get(Client, "dana", populate_existing=True)
            assert client is not None
            return client.paused_until, client.opted_out_at


@pytest.fixture
async def chat(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Chat]:
    path = write_config(tmp_path, CONFIG)
    clock = ManualClock(SLOT)
    slack = CollectingAdapter("slack")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    try:
        yield Chat(runtime, slack, clock)
    finally:
        await runtime.stop()


def is_plain_text(text: str) -> bool:
    """Not a command such as "skip" or "stop 2w", which has meanings of its own tested elsewhere."""
    return parse_command(text) is None


# ---- scale questions ------------------------------------------------------------------------------------


#: A reply on a 1-5 scale and the value it means.
NUMBERS = [
    ("4", 4),
    ("4.0", 4),
    ("4.00", 4),
    ("٤", 4),
    ("४", 4),
    ("４", 4),
    ("𝟒", 4),
    ("four", 4),
    ("FOUR ", 4),
    (" 4 ", 4),
    ("4/5", 4),
    ("4!", 4),
    ("\u200b4\u200d", 4),
    ("4\x00", 4),
    ("\u202e4\u202c", 4),
    ("Good", 4),
    ("  gOOD.  ", 4),
    ("5", 5),
    ("1", 1),
]


async def test_numbers_in_any_form_are_stored_with_their_value(chat: Chat) -> None:
    for text, value in NUMBERS:
        checkin_id = await chat.open_at("progress:delegate")
        sent = await chat.say(text)
        assert [(a.step_key, a.value, a.text) for a in sent.new_answers] == [("progress:delegate", value, None)], text
        assert sent.replies[-1].step_key == "hope"
        assert (await chat.answers(checkin_id))["progress:delegate"] == (value, None)


#: Replies to a 1-5 scale that are not an answer, and how the hint that follows them begins.
NOT_ANSWERS = [
    ("6", "6 is outside the scale; please pick a number from 1 to 5."),
    ("0", "0 is outside the scale; please pick a number from 1 to 5."),
    ("٦", "٦ is outside the scale; please pick a number from 1 to 5."),
    ("-1", "Please answer with a number from 1 to 5"),
    ("4.5", "Please answer with a number from 1 to 5"),
    ("4/10", "Please answer with a number from 1 to 5"),
    ("1e3", "Please answer with a number from 1 to 5"),
    ("NaN", "Please answer with a number from 1 to 5"),
    ("∞", "Please answer with a number from 1 to 5"),
    ("½", "Please answer with a number from 1 to 5"),
    ("Ⅳ", "Please answer with a number from 1 to 5"),
    ("4️⃣", "Please answer with a number from 1 to 5"),
    ("<!channel>", "Please answer with a number from 1 to 5"),
    ("\x00", "Please answer with a number from 1 to 5"),
    ("9" * 40_000, "Please answer with a number from 1 to 5"),
    ("x" * 40_000, "Please answer with a number from 1 to 5"),
]


async def test_not_an_answer_is_not_stored_and_the_question_is_asked_again(chat: Chat) -> None:
    await chat.open_at("hope")
    for text, hint in NOT_ANSWERS:
        sent = await chat.say(text)
        assert sent.new_answers == [], text[:20]
        hint_message, question = sent.replies
        assert hint_message.text.startswith(hint), text[:20]
        assert len(hint_message.text) < 300  # a 40,000-character reply is not echoed back
        assert question.step_key == "hope"
        assert [c.value for c in question.choices] == ["1", "2", "3", "4", "5"]
        assert await chat.current_step() == "hope"


@HYPOTHESIS
@given(step=st.sampled_from(SCALE_STEPS), text=HOSTILE)
async def test_a_scale_question_stores_a_value_on_the_scale_or_asks_again(chat: Chat, step: str, text: str) -> None:
    assume(is_plain_text(text))
    checkin_id = await chat.open_at(step)
    sent = await chat.say(text)
    assert sent.replies, "every message gets a reply"
    if sent.new_answers:
        [answer] = sent.new_answers
        assert (answer.checkin_id, answer.step_key, answer.text) == (checkin_id, step, None)
        assert answer.value in (1, 2, 3, 4, 5)
        assert await chat.current_step() != step
    else:
        assert sent.replies[-1].step_key == step  # the same question again, after a hint
        assert "1 to 5" in sent.replies[0].text
        assert await chat.current_step() == step


# ---- free text: the repair question and the note --------------------------------------------------------


#: Notes as people and platforms send them; each is stored whole, trimmed, NUL dropped.
FREE_TEXTS = [
    "x" * 40_000,
    "😀" * 40_000,
    "a\x00b",
    "\x00" + "note with a NUL in it " * 2000 + "\x00",
    "<!channel> @everyone *bold* [link](http://x.example) <https://evil.example|click> <b>x</b>",
    "\u202eright-to-left override\u202c and עברית and العربية",
    "zero\u200bwidth\u200djoiner\ufeff",
    "e\u0301\u0302\u0303\u0304\u0305 combining",
    "line one\r\nline two\ttab\x1b[31m escape",
    "4",
    "four",
]


@pytest.mark.parametrize("step", TEXT_STEPS)
async def test_free_text_is_stored_whole(chat: Chat, step: str) -> None:
    for text in FREE_TEXTS:
        checkin_id = await chat.open_at(step)
        sent = await chat.say(text)
        assert [(a.step_key, a.value, a.text) for a in sent.new_answers] == [(step, None, stored_note(text))]
        assert (await chat.answers(checkin_id))[step] == (None, stored_note(text))
        assert sent.replies
        assert await chat.current_step() != step


@pytest.mark.parametrize("step", TEXT_STEPS)
async def test_a_lone_surrogate_from_a_platform_is_stored_as_a_replacement_character(chat: Chat, step: str) -> None:
    """JSON may carry ``\\ud800`` and ``json.loads`` keeps it, but no database can store it as UTF-8."""
    checkin_id = await chat.open_at(step)
    await chat.say("broken \ud800 pair \udc00!")
    assert (await chat.answers(checkin_id))[step] == (None, "broken \ufffd pair \ufffd!")


@pytest.mark.parametrize("text", ["\x00", "\u200b\u200d\ufeff", " \t\r\n ", "\x00\x01\x02\x1b"])
async def test_a_blank_note_is_not_stored_and_the_note_is_asked_again(chat: Chat, text: str) -> None:
    await chat.open_at("note")
    sent = await chat.say(text)
    assert sent.new_answers == []
    assert sent.replies[0].text.startswith("Please type your answer in words")
    assert sent.replies[-1].step_key == "note"


@HYPOTHESIS
@given(step=st.sampled_from(TEXT_STEPS), text=HOSTILE)
async def test_free_text_is_stored_or_asked_for_again_never_lost(chat: Chat, step: str, text: str) -> None:
    assume(is_plain_text(text))
    checkin_id = await chat.open_at(step)
    sent = await chat.say(text)
    assert sent.replies
    if normalize(text):
        assert [(a.step_key, a.text) for a in sent.new_answers] == [(step, stored_note(text))]
        assert (await chat.answers(checkin_id))[step] == (None, stored_note(text))
    else:
        assert sent.new_answers == []
        assert sent.replies[-1].step_key == step


# ---- no open check-in, paused, opted out ----------------------------------------------------------------


async def _into(chat: Chat, situation: str) -> None:
    await chat.close_any()
    if situation == "paused":
        await chat.say("pause 2w")
    elif situation == "opted_out":
        await chat.say("stop")


@HYPOTHESIS
@given(situation=st.sampled_from(["idle", "paused", "opted_out"]), text=HOSTILE)
async def test_without_an_open_checkin_odd_text_gets_one_reply_and_changes_nothing(
    chat: Chat, situation: str, text: str
) -> None:
    assume(is_plain_text(text))
    await _into(chat, situation)
    before = await chat.client()
    sent = await chat.say(text)
    assert [m.text for m in sent.replies] == ['There is no check-in open right now. Type "help" for what you can say.']
    assert sent.new_answers == []
    assert await chat.client() == before
    assert await chat.open_checkins() == 0


@pytest.mark.parametrize("situation", ["idle", "paused", "opted_out"])
async def test_forty_thousand_characters_without_an_open_checkin(chat: Chat, situation: str) -> None:
    await _into(chat, situation)
    before = await chat.client()
    sent = await chat.say("<!channel> " * 4_000)
    assert [m.text for m in sent.replies] == ['There is no check-in open right now. Type "help" for what you can say.']
    assert await chat.client() == before


# ---- duplicates and buttons out of order ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["4", "x" * 40_000, "note \x00 with NUL", "<!channel>"])
async def test_a_redelivered_event_acts_once(chat: Chat, text: str) -> None:
    for step in ("hope", "note"):
        checkin_id = await chat.open_at(step)
        key = chat.key()
        first = await chat.say(text, key=key)
        answers, where = await chat.answers(checkin_id), await chat.current_step()
        again = await chat.say(text, key=key)
        assert first.replies
        assert again.new_answers == []
        assert again.replies == first.replies  # no reply was queued for the re-delivery
        assert (await chat.answers(checkin_id), await chat.current_step()) == (answers, where)


async def test_a_press_for_a_step_already_answered_changes_nothing(chat: Chat) -> None:
    checkin_id = await chat.open_at("trust")
    answers = await chat.answers(checkin_id)
    sent = await chat.press(checkin_id, "hope", "1")
    assert sent.new_answers == []
    assert sent.replies[0].text == "That button belongs to an earlier question. Here is where we are:"
    assert sent.replies[-1].step_key == "trust"
    assert await chat.answers(checkin_id) == answers


@pytest.mark.parametrize(
    ("checkin_offset", "step_key"),
    [
        (0, "no-such-step"),
        (0, ""),
        (0, "progress:no-such-goal"),
        (0, "trust:extra"),
        (10_000, "trust"),
        (-10_000, "trust"),
    ],
)
async def test_a_press_naming_no_current_step_is_answered_and_changes_nothing(
    chat: Chat, checkin_offset: int, step_key: str
) -> None:
    checkin_id = await chat.open_at("trust")
    answers = await chat.answers(checkin_id)
    sent = await chat.press(checkin_id + checkin_offset, step_key, "1")
    assert sent.new_answers == []
    assert sent.replies[0].text.startswith("That button belongs to an earlier question")
    assert sent.replies[-1].step_key == "trust"
    assert await chat.answers(checkin_id) == answers


async def test_a_press_on_an_old_checkins_button_does_not_answer_the_new_one(chat: Chat) -> None:
    old = await chat.open_at("hope")
    new = await chat.open_at("hope")
    sent = await chat.press(old, "hope", "1")
    assert sent.new_answers == []
    assert "earlier question" in sent.replies[0].text
    assert "hope" not in await chat.answers(new)
    assert "hope" not in await chat.answers(old)


async def test_a_button_value_not_among_the_choices_is_not_stored(chat: Chat) -> None:
    checkin_id = await chat.open_at("trust")
    for value in ["9", "0", "-1", "", "<!channel>", "x" * 5000, "4.5", "\x00"]:
        sent = await chat.press(checkin_id, "trust", value)
        assert sent.new_answers == [], value[:20]
        assert "1 to 5" in sent.replies[0].text
        assert sent.replies[-1].step_key == "trust"


async def test_a_press_without_an_open_checkin_gets_a_reply(chat: Chat) -> None:
    checkin_id = await chat.open_at("trust")
    await chat.close_any()
    sent = await chat.press(checkin_id, "trust", "4")
    assert [m.text for m in sent.replies] == ['There is no check-in open right now. Type "help" for what you can say.']
    assert sent.new_answers == []
