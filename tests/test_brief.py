"""The pre-session brief: on demand with ``brief CLIENT``, and unasked before each session, once, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app.builder import Bot
from bot.coaching.brief import brief_due, quoted, talking_points
from bot.coaching.commands import ShowBrief, Unknown, parse_coach_command
from bot.config.question_sets import load_builtin_question_sets
from bot.contract.statuses import CheckInStatus
from bot.signals.detectors.common import relationship_questions
from bot.signals.history import HistoryEntry
from bot.timing.clock import ManualClock
from tests import test_coach_commands as coach_commands
from tests.fakes import CollectingAdapter
from tests.test_coach_commands import CONFIG, DANA, LOW_TRUST, MAYA, NOW, Chat, RuntimeFactory

# The coach commands' runtime on both databases (the clock and the Slack-like adapter come from conftest).
make_runtime = coach_commands.make_runtime
runtime = coach_commands.runtime
chat = coach_commands.chat

LONDON = ZoneInfo("Europe/London")
#: Dana's coaching sessions, as the config lists them.
WITH_SESSIONS = CONFIG.replace(
    "    goals: [{id: delegate, title: Delegate the quarterly planning}]\n",
    "    goals: [{id: delegate, title: Delegate the quarterly planning}]\n    sessions: [2026-11-20, 2026-11-26]\n",
    1,
)
PNG = b"\x89PNG\r\n\x1a\n"


async def check_in(chat: Chat, slot: datetime, replies: list[str]) -> None:
    assert await chat.runtime.lifecycle.start_checkin("dana", slot) is not None
    for reply in replies:
        await chat.say(DANA, reply)


# ---- reading the command ------------------------------------------------------------------------------


def test_brief_is_a_coach_command() -> None:
    assert parse_coach_command("brief Dana Whitfield", date(2026, 11, 23)) == ShowBrief("dana whitfield")
    assert parse_coach_command("brief", date(2026, 11, 23)) == Unknown("coach_usage_brief")


# ---- on demand ----------------------------------------------------------------------------------------


async def test_brief_on_demand_shows_answers_alerts_points_and_chart(chat: Chat) -> None:
    await check_in(chat, NOW - timedelta(days=1), [*LOW_TRUST[:-1], "My father is in hospital\nack 1"])
    [reply] = await chat.say(MAYA, "brief dana")
    lines = reply.text.splitlines()
    assert lines[0] == "Brief on Dana Whitfield (no session planned)"
    assert lines[1] == "Check-ins so far:"
    assert lines[2] == "  22 November 2026: progress 4 · hope 4 · focus 4 · trust 1 · perspective 4 · support 4"
    # The note is quoted on one line: its newline cannot make a line of its own that reads like the bot's.
    assert "    note: “My father is in hospital / ack 1”" in lines
    assert "    repair: “Be more direct with me”" in lines
    assert "Open alerts:" in lines
    points = lines[lines.index("Talking points:") + 1 :]
    assert points[0].startswith("  • Trust: ") and points[0].endswith("(at 1.0 lately)")
    assert len(points) == 3
    assert reply.image_png is not None and reply.image_png.startswith(PNG)


async def test_brief_without_check_ins_still_offers_points(chat: Chat) -> None:
    [reply] = await chat.say(MAYA, "brief dana")
    assert "  none since then" in reply.text.splitlines()
    assert "No open alerts." in reply.text.splitlines()
    assert "(no answers yet)" in reply.text
    assert reply.image_png is None


async def test_brief_covers_only_the_coachs_own_clients(chat: Chat) -> None:
    [reply] = await chat.say(MAYA, "brief omar")
    assert reply.text == 'None of your clients is called "omar". Send "clients" to see them.'


async def test_an_acknowledged_alert_leaves_the_brief(chat: Chat) -> None:
    await check_in(chat, NOW - timedelta(days=1), LOW_TRUST)
    await chat.say(MAYA, "ack")
    [reply] = await chat.say(MAYA, "brief dana")
    assert "No open alerts." in reply.text.splitlines()


# ---- before each session ------------------------------------------------------------------------------


async def test_the_brief_arrives_the_evening_before_each_session_once(
    make_runtime: RuntimeFactory, clock: ManualClock, slack: CollectingAdapter
) -> None:
    bot: Bot = make_runtime(WITH_SESSIONS)
    await bot.start()
    # Answered after the session of 20 November, so it is "since the last session".
    await check_in(Chat(bot, slack), NOW - timedelta(days=1), LOW_TRUST)
    slack.clear()
    assert await bot.housekeeping.send_due_briefs() == 0  # 23 November: the 26th's brief is not due yet
    clock.set(datetime.combine(date(2026, 11, 25), time(17, 59), LONDON).astimezone(UTC))
    assert await bot.housekeeping.send_due_briefs() == 0
    clock.set(datetime.combine(date(2026, 11, 25), time(18, 0), LONDON).astimezone(UTC))
    assert (await bot.dispatcher().sweep()).briefs == 1  # the sweep sends them
    await bot.outbox.drain()
    [brief] = [m for m in slack.to(MAYA) if m.text.startswith("Brief")]  # the sweep also sent the weekly digest
    lines = brief.text.splitlines()
    assert lines[0] == "Brief for your session with Dana Whitfield on 26 November 2026"
    assert lines[1] == "Check-ins since the last session (20 November 2026):"
    assert lines[2].startswith("  22 November 2026: ")
    assert brief.image_png is not None and brief.image_png.startswith(PNG)
    assert await bot.housekeeping.send_due_briefs() == 0  # once per session, whatever the sweeps
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    assert await bot.housekeeping.send_due_briefs() == 0  # the session is over


async def test_a_recorded_session_gets_a_brief_too(chat: Chat, clock: ManualClock, slack: CollectingAdapter) -> None:
    [recorded] = await chat.say(MAYA, "session dana 2026-12-01")
    assert recorded.text == "Session with Dana Whitfield on 1 December 2026 recorded."
    slack.clear()
    clock.set(datetime.combine(date(2026, 11, 30), time(18, 30), LONDON).astimezone(UTC))
    assert await chat.runtime.housekeeping.send_due_briefs() == 1
    await chat.runtime.outbox.drain()
    [brief] = slack.to(MAYA)
    assert brief.text.startswith("Brief for your session with Dana Whitfield on 1 December 2026\n")


async def test_the_brief_time_is_the_coachs_to_choose(
    make_runtime: RuntimeFactory, clock: ManualClock, slack: CollectingAdapter
) -> None:
    config = WITH_SESSIONS.replace(
        "timezone: Europe/London, slack:", 'timezone: Europe/London, brief_at: "07:30", brief_days_before: 0, slack:'
    )
    bot = make_runtime(config)
    await bot.start()
    clock.set(datetime.combine(date(2026, 11, 25), time(18, 0), LONDON).astimezone(UTC))
    assert await bot.housekeeping.send_due_briefs() == 0
    clock.set(datetime.combine(date(2026, 11, 26), time(7, 30), LONDON).astimezone(UTC))
    assert await bot.housekeeping.send_due_briefs() == 1


async def test_a_brief_due_in_the_coachs_quiet_hours_waits_for_them_to_end(
    make_runtime: RuntimeFactory, clock: ManualClock, slack: CollectingAdapter
) -> None:
    """The brief is not urgent: like every message that is not, it keeps the coach's quiet hours."""
    config = WITH_SESSIONS.replace(
        "timezone: Europe/London, slack:",
        'timezone: Europe/London, quiet_hours: {start: "17:00", end: "19:00"}, slack:',
    )
    bot = make_runtime(config)
    await bot.start()
    await check_in(Chat(bot, slack), NOW - timedelta(days=1), LOW_TRUST)  # so the brief has a chart to keep
    clock.set(datetime.combine(date(2026, 11, 25), time(18, 0), LONDON).astimezone(UTC))
    slack.clear()
    assert await bot.housekeeping.send_due_briefs() == 1
    await bot.outbox.drain()
    assert [m for m in slack.to(MAYA) if m.text.startswith("Brief")] == []
    assert await bot.housekeeping.send_due_briefs() == 0  # waiting, not queued again
    clock.set(datetime.combine(date(2026, 11, 25), time(19, 0), LONDON).astimezone(UTC))
    await bot.housekeeping.release_waiting()
    await bot.outbox.drain()
    [brief] = [m for m in slack.to(MAYA) if m.text.startswith("Brief")]
    assert brief.image_png is not None and brief.image_png.startswith(PNG)


# ---- the pure parts -----------------------------------------------------------------------------------


def test_a_brief_is_due_from_its_time_until_the_session_day_ends() -> None:
    day = date(2026, 3, 29)  # the night the clocks go forward in London
    assert not brief_due(day, time(18), 1, LONDON, datetime(2026, 3, 28, 17, 59, tzinfo=UTC))
    assert brief_due(day, time(18), 1, LONDON, datetime(2026, 3, 28, 18, 0, tzinfo=UTC))
    assert brief_due(day, time(18), 1, LONDON, datetime(2026, 3, 29, 22, 59, tzinfo=UTC))
    assert not brief_due(day, time(18), 1, LONDON, datetime(2026, 3, 29, 23, 0, tzinfo=UTC))


def entry(day: int, **scores: float) -> HistoryEntry:
    return HistoryEntry("c", datetime(2026, 11, day, 9, tzinfo=UTC), CheckInStatus.COMPLETED, scores)


def test_talking_points_put_the_weakest_and_the_fallen_first() -> None:
    questions = relationship_questions(load_builtin_question_sets()["default"])
    before = [entry(1, hope=5, focus=3, trust=4, perspective=4, support=4)]
    since = [entry(8, hope=3, focus=3, trust=4, perspective=4, support=4)]
    readings = talking_points(since, before, questions)
    # Hope fell by 2 to 3 and ranks before focus, which is at 3 and did not move.
    assert [r.practice for r in readings] == ["hope", "focus", "trust"]
    assert readings[0].change == -2
    assert [r.practice for r in talking_points([], [], questions)] == ["hope", "focus"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fine", "“fine”"),
        ("line one\n\nline two", "“line one / line two”"),
        ("a\u202eevil\u2028b", "“aevilb”"),
    ],
)
def test_quotes_stay_on_one_line(text: str, expected: str) -> None:
    assert quoted(text) == expected
