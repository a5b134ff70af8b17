"""The executive sees their own progress: a line at the end of a completed check-in and the ``progress`` chart,
through the real Telegram and Slack adapters against their fake servers, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.telegram import TelegramAdapter
from bot.config.message_files import load_catalog
from bot.conversation.progress import GoalTrack, progress_line
from bot.store import goal_progress
from bot.timing.clock import ManualClock
from tests import test_slack
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_telegram import FakeTelegram, SentMessage
from tests.test_slack import DANA as SLACK_DANA
from tests.test_slack import SLOT as SLACK_SLOT
from tests.test_telegram import CONFIG, DANA_CHAT, SLOT, Setup, bind, bot_says

FIRST = datetime(2026, 10, 19, 8, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
#: Answers to the goal question, the five practices and the optional note.
ANSWERS = ["4", "4", "4", "4", "4", "skip"]
#: Another client of Maya's, coached on the same goal title: their answers must never reach Dana's chart.
OTHER_CLIENT = """  - id: omar
    name: Omar Haddad
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    telegram: {}
    goals:
      - id: delegate
        title: Delegate the quarterly planning
"""


@pytest.fixture
async def setup(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Setup]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + OTHER_CLIENT, encoding="utf-8")
    clock = ManualClock(FIRST)
    async with FakeTelegram(per_chat_rate=Rate(1.0, burst=50)) as fake:
        adapter = TelegramAdapter(fake.token, fake.api_url)
        database = database_target.create()
        runtime = runtime_for(path, database, clock, {"telegram": adapter})
        await runtime.start()
        try:
            yield Setup(fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


async def reply(s: Setup, text: str) -> list[SentMessage]:
    """Dana types ``text``; return what the bot sent back."""
    before = len(s.fake.sent_to(DANA_CHAT))
    s.fake.push_text(DANA_CHAT, text)
    return (await bot_says(s, DANA_CHAT, before))[before:]


async def check_in(s: Setup, slot: datetime, goal: str) -> list[SentMessage]:
    """A whole check-in with ``goal`` as the goal answer; return the bot's last replies."""
    s.clock.set(slot)
    before = len(s.fake.sent_to(DANA_CHAT))
    assert await s.runtime.lifecycle.start_checkin("dana", slot) is not None
    await bot_says(s, DANA_CHAT, before)
    replies: list[SentMessage] = []
    for text in [goal, *ANSWERS]:
        replies = await reply(s, text)
    return replies


async def test_a_completed_check_in_ends_with_goal_progress_since_the_first(setup: Setup) -> None:
    await bind(setup, "client", "dana", DANA_CHAT)
    first = await check_in(setup, FIRST, "2")
    assert [m.text for m in first] == [
        "Thank you, that's everything. Maya Chen will see your answers before your next session."
    ]  # nothing to compare yet
    later = await check_in(setup, SLOT, "4")
    assert [m.text for m in later][-1] == (
        "Since your first check-in in October, “Delegate the quarterly planning” went from 2 to 4."
    )


async def test_progress_sends_a_chart_of_the_clients_own_goals(setup: Setup) -> None:
    await bind(setup, "client", "dana", DANA_CHAT)
    [empty] = await reply(setup, "progress")
    assert empty.text == "There is no goal progress to show yet: it appears after your first check-in."
    await check_in(setup, FIRST, "2")
    await check_in(setup, SLOT, "3")
    [chart] = await reply(setup, "/progress")
    assert chart.caption == "Your goals since your first check-in (only you and your coach see this):"
    assert chart.photo_size is not None and chart.photo_size > 1000
    async with setup.database.session() as session:
        [dana] = await goal_progress.goal_tracks(session, "dana")
        [omar] = await goal_progress.goal_tracks(session, "omar")
    assert [value for _, value in dana.points] == [2, 3]
    assert omar == GoalTrack("Delegate the quarterly planning", ())  # the same goal, nobody else's answers


# ---- the line itself ----------------------------------------------------------------------------------


def track(title: str, *values: int) -> GoalTrack:
    return GoalTrack(title, tuple((datetime(2026, 10 + i, 5, 8, tzinfo=UTC), v) for i, v in enumerate(values)))


def test_the_line_names_the_goal_that_rose_most_in_the_clients_language() -> None:
    catalog = load_catalog()
    tracks = [track("Hire a COO", 3, 3), track("Mehr delegieren", 2, 4)]
    assert progress_line(catalog.for_language("de"), tracks, PARIS) == (
        "Seit Ihrem ersten Check-in im Oktober ist „Mehr delegieren“ von 2 auf 4 gestiegen."
    )
    assert progress_line(catalog.english, [track("Delegate more", 2)], PARIS) is None  # the first check-in


def test_without_a_rise_the_line_still_offers_hope() -> None:
    english = load_catalog().english
    assert progress_line(english, [track("Delegate more", 3, 2, 3)], PARIS) == (
        "Since your first check-in in October you have checked in 3 times: "
        "that steady attention is how progress starts."
    )


# ---- on Slack -----------------------------------------------------------------------------------------

slack_setup = test_slack.setup


async def slack_check_in(s: test_slack.Setup, slot: datetime, goal: str) -> list[str]:
    """A whole check-in on Slack; return the texts of the bot's replies to the last answer."""
    sent = len(s.fake.sent_to(SLACK_DANA))
    assert await s.runtime.lifecycle.start_checkin("dana", slot) is not None
    sent = len(await test_slack.bot_says(s, SLACK_DANA, sent))
    replies: list[str] = []
    for text in [goal, *ANSWERS]:
        await test_slack.say(s, SLACK_DANA, text)
        replies = [m.text for m in (await test_slack.bot_says(s, SLACK_DANA, sent))[sent:]]
        sent += len(replies)
    return replies


async def test_progress_on_slack(slack_setup: test_slack.Setup) -> None:
    s = slack_setup
    await slack_check_in(s, FIRST, "2")
    *_, line = await slack_check_in(s, SLACK_SLOT, "4")
    assert line == "Since your first check-in in October, “Delegate the quarterly planning” went from 2 to 4."
    before = len(s.fake.sent_to(SLACK_DANA))
    await test_slack.say(s, SLACK_DANA, "progress")
    [*_, caption] = await test_slack.bot_says(s, SLACK_DANA, before)
    assert caption.text == "Your goals since your first check-in (only you and your coach see this):"

    async def charted() -> bool:
        await s.runtime.outbox.drain()
        return bool(s.fake.files_to(SLACK_DANA))

    await test_slack.eventually(charted)
    [chart] = s.fake.files_to(SLACK_DANA)
    assert chart.data.startswith(b"\x89PNG") and len(chart.data) > 1000
