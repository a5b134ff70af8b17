"""The coach's side of the loop on both databases: every check-in reaches the coach, what waits for a coach
who joins later or is in quiet hours, what a client did, and ``answers``.

The runtime is real (store, outbox, notices); the platform is a collecting adapter. The same points through
the real Slack and Telegram adapters are in ``test_coach_loop_platforms.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.builder import Bot
from bot.coaching.commands import ShowAnswers, Unknown, parse_coach_command
from bot.coaching.reasons import unreachable_reason_key
from bot.config import load_config
from bot.config.errors import ConfigError
from bot.contract.messages import InboundText, OutboundMessage
from bot.store import invites
from bot.store.models import Alert, CoachWaiting, OutboxMessage
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.charts import FailingChart

#: Maya is on Slack; Tom coaches on Telegram and has not opened his invite. Each has one client on Slack.
CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
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
    slack: {user_id: U0MAYA0001}
    COACH_EXTRA
  - id: tom
    name: Tom Berger
    timezone: Europe/Berlin
    telegram: {}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    CLIENT_EXTRA
    goals:
      - id: delegate
        title: Delegate the quarterly planning
  - id: lee
    name: Lee Park
    coach: tom
    timezone: Europe/Berlin
    cadence: weekly
    slack: {user_id: U0LEE00001}
    goals:
      - id: hire
        title: Hire a deputy
"""

SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DANA, MAYA, LEE = "U0DANA0001", "U0MAYA0001", "U0LEE00001"
TOM_CHAT = "7001"
#: Progress, hope, focus, trust, perspective, support, then the note: a check-in nothing alerts on.
STEADY = ["4", "4", "4", "4", "4", "4"]
#: Trust at the bottom: an urgent alert, and the repair question before the note.
TRUST_AT_ONE = ["4", "4", "4", "1", "4", "4", "Be more direct with me"]

Build = Callable[..., Awaitable[Bot]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SLOT)


@pytest.fixture
def slack() -> CollectingAdapter:
    return CollectingAdapter("slack")


@pytest.fixture
def telegram() -> CollectingAdapter:
    return CollectingAdapter("telegram")


@pytest.fixture
async def build(
    database_target: DatabaseTarget,
    tmp_path: Path,
    clock: ManualClock,
    slack: CollectingAdapter,
    telegram: CollectingAdapter,
) -> AsyncIterator[Build]:
    """Starts a runtime on a config with extra coach (Maya) and client (Dana) settings."""
    started: list[Bot] = []

    async def make(coach: str = "", client: str = "") -> Bot:
        path = tmp_path / "config.yaml"
        path.write_text(CONFIG.replace("COACH_EXTRA", coach).replace("CLIENT_EXTRA", client), encoding="utf-8")
        runtime = runtime_for(path, database_target.create(), clock, {"slack": slack, "telegram": telegram})
        started.append(runtime)
        await runtime.start()
        return runtime

    yield make
    for runtime in started:
        await runtime.stop()


async def checkin(
    runtime: Bot, clock: ManualClock, replies: list[str], sender: str = DANA, client: str = "dana"
) -> None:
    """A check-in at the clock's time, answered with ``replies`` (an unanswered note is skipped)."""
    slot = clock.now()
    await runtime.lifecycle.start_checkin(client, slot)
    for n, reply in enumerate(replies):
        await say(runtime, reply, f"{slot.isoformat()}-{n}", sender)
    await runtime.outbox.drain()


async def say(runtime: Bot, text: str, key: str, sender: str = DANA, platform: str = "slack") -> None:
    await runtime.inbound.handle(InboundText(platform, sender, key, text))
    await runtime.outbox.drain()


async def waiting_count(runtime: Bot) -> int:
    async with runtime.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CoachWaiting)) or 0)


def texts(messages: list[OutboundMessage]) -> list[str]:
    return [m.text for m in messages]


# ---- every check-in reaches the coach ---------------------------------------------------------------------


async def test_each_completed_checkin_reaches_the_coach_with_arrows_usual_level_quotes_and_skips(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build()
    for week, trust in enumerate(["4", "4", "5"]):
        clock.set(SLOT + timedelta(weeks=week))
        await checkin(runtime, clock, ["4", "4", "4", trust, "4", "4", "skip"])
    clock.set(SLOT + timedelta(weeks=3))
    forged = "Dad is in hospital\nCheck-in alert for Dana Whitfield (urgent)\u202e\n\n"
    await checkin(runtime, clock, ["5", "4", "4", "3", "4", "4", forged])
    summaries = slack.to(MAYA)
    assert len(summaries) == 4  # one per check-in, no alert: nothing here calls for one
    first, last = summaries[0].text, summaries[-1].text
    assert first.startswith("Dana Whitfield answered the check-in of 23 November 2026:")
    assert "trust 4 ·" in first and "↑" not in first and "arrows" not in first  # nothing to compare with yet
    assert "Skipped: note" in first
    lines = last.split("\n")
    assert lines[0] == "Dana Whitfield answered the check-in of 14 December 2026:"
    assert lines[1] == (
        "progress 5↑ (usually 4) · hope 4→ · focus 4→ · trust 3↓ (usually 4) · perspective 4→ · support 4→"
    )
    assert lines[2] == "(arrows: since 7 December 2026; usually: the median of earlier check-ins)"
    # The note is quoted line by line; the forged line cannot pass for the bot's own, and the bidi override is gone.
    assert lines[3:] == [
        "Dana Whitfield wrote (note):",
        "> Dad is in hospital",
        "> Check-in alert for Dana Whitfield (urgent)",
    ]
    assert all(m.audience == "coach" and m.choices == () for m in summaries)


async def test_with_an_alert_the_summary_goes_first_and_the_alert_points_at_it(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build()
    await checkin(runtime, clock, [*TRUST_AT_ONE, "skip"])
    summary, alert = slack.to(MAYA)
    assert summary.text.startswith("Dana Whitfield answered") and "trust 1" in summary.text
    # The alert quotes the repair answer, so the summary leaves it to the alert: the coach reads it once.
    assert summary.text.endswith("\nAn alert about this check-in follows, quoting what they wrote.")
    assert "Be more direct with me" not in summary.text
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)")
    assert alert.text.count("Be more direct with me") == 1
    assert alert.choices and alert.image_png is not None


async def alert_row(runtime: Bot) -> OutboxMessage:
    async with runtime.database.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("alert:%")))
    assert row is not None
    return row


async def test_the_alert_chart_is_drawn_after_the_commit_and_the_alert_held_for_it(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    """The reply that raises an alert commits without drawing: the alert is queued held and imageless, the
    chart is drawn off the event loop afterwards, attached, and the alert goes with it in the same drain."""
    runtime = await build()
    await runtime.lifecycle.start_checkin("dana", clock.now())
    for n, reply in enumerate([*TRUST_AT_ONE, "skip"]):
        await runtime.inbound.handle(InboundText("slack", DANA, f"reply-{n}", reply))
    committed = await alert_row(runtime)
    assert committed.status == "pending" and committed.payload.get("image_png") is None
    assert committed.next_attempt_at > clock.now()  # held for its chart, not sent without it
    assert runtime.outbox.attachments.pending  # the drawing runs after the commit
    await runtime.outbox.drain()
    alert = slack.to(MAYA)[-1]
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)")
    assert alert.image_png is not None and alert.image_png.startswith(b"\x89PNG")
    assert (await alert_row(runtime)).status == "sent"


async def test_an_alert_attached_while_the_drain_claims_goes_in_the_same_drain(
    build: Build, clock: ManualClock, slack: CollectingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart can be attached while the drain's last claim is under way: the claim did not see the alert
    released, and by its end nothing was being drawn any more, so the drain ended without the alert (seen once
    under load in CI-like runs). Here the attaching is made to finish inside that claim."""
    runtime = await build()
    await runtime.lifecycle.start_checkin("dana", clock.now())
    for n, reply in enumerate([*TRUST_AT_ONE, "skip"]):
        await runtime.inbound.handle(InboundText("slack", DANA, f"reply-{n}", reply))
    outbox = runtime.outbox
    settle = outbox._settle
    drawing = set(outbox.attachments._pending)
    assert drawing

    async def attached_during_the_claim(limit: int) -> list[object]:
        claimed = await settle(limit)
        if not claimed and drawing:
            await asyncio.wait(drawing)  # the alert is released after this claim looked for it
            drawing.clear()
            await asyncio.sleep(0)  # and the drawing is no longer pending
        return claimed

    monkeypatch.setattr(outbox, "_settle", attached_during_the_claim)
    await outbox.drain()
    assert slack.to(MAYA)[-1].text.startswith("Check-in alert for Dana Whitfield (urgent)")


async def test_an_alert_whose_chart_fails_is_still_delivered_at_once_without_it(
    build: Build, clock: ManualClock, slack: CollectingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.coaching.notices

    # The failure happens for real in the drawing process, which unpickles the stand-in from tests.support.
    monkeypatch.setattr(bot.coaching.notices, "TrendChart", FailingChart)
    runtime = await build()
    await checkin(runtime, clock, [*TRUST_AT_ONE, "skip"])
    summary, alert = slack.to(MAYA)
    assert summary.text.startswith("Dana Whitfield answered")
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)")
    assert alert.choices and alert.image_png is None
    assert not runtime.outbox.attachments.pending


async def test_a_coach_who_chose_digest_only_gets_the_alert_alone(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach="checkin_summaries: digest")
    await checkin(runtime, clock, [*STEADY, "skip"])
    assert slack.to(MAYA) == []
    clock.advance(timedelta(weeks=1))
    await checkin(runtime, clock, [*TRUST_AT_ONE, "skip"])
    [alert] = slack.to(MAYA)
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)")


async def test_a_client_override_wins_over_the_coachs_choice(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach="checkin_summaries: digest", client="checkin_summaries: each")
    await checkin(runtime, clock, [*STEADY, "skip"])
    [summary] = slack.to(MAYA)
    assert summary.text.startswith("Dana Whitfield answered")


def test_summary_and_quiet_hour_settings_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    for extra, problem in [
        ("checkin_summaries: weekly", "checkin_summaries"),
        ('quiet_hours: {start: "22:00", end: "22:00"}', "quiet hours need different start and end times"),
        ('quiet_hours: {start: "25:00", end: "07:00"}', "quiet_hours"),
    ]:
        path.write_text(CONFIG.replace("COACH_EXTRA", extra).replace("CLIENT_EXTRA", ""), encoding="utf-8")
        with pytest.raises(ConfigError) as raised:
            load_config(path)
        assert problem in str(raised.value)
    path.write_text(
        CONFIG.replace("COACH_EXTRA", 'quiet_hours: {start: "20:00", end: "08:00"}').replace(
            "CLIENT_EXTRA", "checkin_summaries: digest"
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.checkin_summaries_for("dana", "maya") == "digest"
    assert config.checkin_summaries_for("lee", "tom") == "each"


# ---- a coach who joins later ------------------------------------------------------------------------------


async def test_a_coach_without_an_address_gets_everything_when_the_invite_is_redeemed(
    build: Build, clock: ManualClock, slack: CollectingAdapter, telegram: CollectingAdapter
) -> None:
    runtime = await build()
    await checkin(runtime, clock, ["4", "4", "4", "1", "4", "4", "Be more direct with me", "skip"], LEE, "lee")
    async with runtime.database.session() as session:
        [alert] = (await session.scalars(select(Alert))).all()
    assert telegram.sent == [] and await waiting_count(runtime) == 2  # the summary and the alert, kept
    assert await runtime.housekeeping.release_waiting() == 0  # still nowhere to send them
    # Not acknowledged, but Tom never had it: the re-send waits too.
    clock.advance(timedelta(days=2))
    assert await runtime.housekeeping.resend_unacknowledged() == 0
    # A digest is about its week: Maya gets hers, and none piles up for Tom while he cannot be reached.
    assert await runtime.housekeeping.send_due_digests() == 1
    assert await waiting_count(runtime) == 2

    async with runtime.database.transaction() as session:
        await invites.create_telegram_invite(
            session, "tok-tom", "coach", "tom", clock.now() + timedelta(days=7), clock.now()
        )
    await say(runtime, "/start tok-tom", "tg-1", TOM_CHAT, "telegram")
    welcome, summary, alert_message = telegram.to(TOM_CHAT)
    assert welcome.text.startswith("Welcome")
    assert summary.text.startswith("Lee Park answered the check-in of 23 November 2026:")
    assert alert_message.text.startswith("Check-in alert for Lee Park (urgent)")
    assert next(c.value for c in alert_message.choices) == f"ack {alert.id}"
    assert await waiting_count(runtime) == 0
    # Now that Tom has had it, an unacknowledged urgent alert is sent again once.
    clock.advance(timedelta(days=1, minutes=1))
    assert await runtime.housekeeping.resend_unacknowledged() == 1
    await runtime.outbox.drain()
    assert telegram.to(TOM_CHAT)[-1].text.startswith("Not acknowledged yet")


async def test_an_urgent_alert_never_queued_is_resent_from_the_stored_alert(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build()
    await say(runtime, "snooze dana 1d", "coach-1", MAYA)
    await checkin(runtime, clock, [*TRUST_AT_ONE, "skip"])
    _reply, summary = slack.to(MAYA)  # the reply to snooze and the summary, which announces no alert
    assert summary.choices == () and "alert" not in summary.text
    clock.advance(timedelta(hours=23))
    assert await runtime.housekeeping.resend_unacknowledged() == 0  # snoozed, and not yet due
    clock.advance(timedelta(hours=2))
    assert await runtime.housekeeping.resend_unacknowledged() == 1
    await runtime.outbox.drain()
    again = slack.to(MAYA)[-1]
    assert again.text.split("\n")[:2] == [
        "Not acknowledged yet, so here it is again in case it was missed:",
        "Check-in alert for Dana Whitfield (urgent)",
    ]
    assert "Trust was answered 1" in again.text
    assert again.choices and again.step_key == "coach"


# ---- quiet hours ------------------------------------------------------------------------------------------

QUIET = 'quiet_hours: {start: "20:00", end: "08:00"}'


async def test_quiet_hours_hold_what_is_not_urgent_until_they_end(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach=QUIET)
    clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))  # 21:00 in London
    await checkin(runtime, clock, [*STEADY, "skip"])
    assert slack.to(MAYA) == [] and await waiting_count(runtime) == 1
    clock.set(datetime(2026, 11, 24, 7, 59, tzinfo=UTC))
    assert await runtime.housekeeping.release_waiting() == 0
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert await runtime.housekeeping.release_waiting() == 1
    await runtime.outbox.drain()
    [summary] = slack.to(MAYA)
    assert summary.text.startswith("Dana Whitfield answered")
    assert await runtime.housekeeping.release_waiting() == 0


async def test_an_urgent_alert_breaks_quiet_hours_and_brings_what_waited_in_order(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach=QUIET)
    clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))
    await checkin(runtime, clock, [*TRUST_AT_ONE, "skip"])
    summary, alert = slack.to(MAYA)
    assert summary.text.startswith("Dana Whitfield answered")
    assert alert.text.startswith("Check-in alert for Dana Whitfield (urgent)")
    assert await waiting_count(runtime) == 0


async def test_a_coach_command_is_answered_during_quiet_hours(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach=QUIET)
    clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))
    await checkin(runtime, clock, [*STEADY, "skip"])
    await say(runtime, "clients", "coach-1", MAYA)
    [reply] = slack.to(MAYA)  # the summary waits; the answer to the coach's own question does not
    assert reply.text.startswith("Your clients")


# ---- what a client did ------------------------------------------------------------------------------------


async def test_the_coach_hears_when_a_client_skips_pauses_or_stops(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build()
    await runtime.lifecycle.start_checkin("dana", SLOT)
    await say(runtime, "skip all", "ev-1")
    clock.advance(timedelta(weeks=1))
    await runtime.lifecycle.start_checkin("dana", clock.now())
    await say(runtime, "4", "ev-2")
    await say(runtime, "pause 2w", "ev-3")
    await say(runtime, "resume", "ev-4")
    await say(runtime, "stop", "ev-5")
    assert texts(slack.to(MAYA)) == [
        "Dana Whitfield skipped today's check-in as a whole, without answering.",
        "Dana Whitfield paused check-ins until 14 December 2026.",
        'Dana Whitfield sent "resume": check-ins start again with the next one due.',
        'Dana Whitfield sent "stop": check-ins to them have ended until they send "resume". Worth a word at '
        "your next session.",
    ]
    await say(runtime, "stop", "ev-6")  # already stopped: nothing new for the coach
    assert len(slack.to(MAYA)) == 4


@pytest.mark.parametrize(
    ("reason", "key"),
    [
        ("Forbidden: bot was blocked by the user", "unreachable_reason_blocked"),
        ("bot was blocked by the user", "unreachable_reason_blocked"),
        ("Forbidden: user is deactivated", "unreachable_reason_account_gone"),
        ("Slack: user_disabled", "unreachable_reason_account_gone"),
        ("Bad Request: chat not found", "unreachable_reason_no_chat"),
        ("Slack: channel_not_found", "unreachable_reason_no_chat"),
        ("Slack: msg_too_long", "unreachable_reason_other"),
    ],
)
def test_platform_reasons_read_as_plain_sentences(reason: str, key: str) -> None:
    assert unreachable_reason_key(reason) == key


# ---- answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("answers dana", ShowAnswers("dana")),
        ("answers dana 5", ShowAnswers("dana", 5)),
        ("answers Dana Whitfield 2", ShowAnswers("dana whitfield", 2)),
        ("answers dana 11", Unknown("coach_usage_answers")),
        ("answers dana 0", Unknown("coach_usage_answers")),
        ("answers", Unknown("coach_usage_answers")),
    ],
)
def test_answers_is_read(text: str, expected: object) -> None:
    assert parse_coach_command(text, date(2026, 11, 23)) == expected


async def test_answers_shows_the_last_checkins_of_the_coachs_own_clients_only(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    runtime = await build(coach="checkin_summaries: digest")
    for week, note in enumerate(["one", "two", "three"]):
        clock.set(SLOT + timedelta(weeks=week))
        await checkin(runtime, clock, [*STEADY, note])
    await say(runtime, "answers dana 2", "coach-1", MAYA)
    [reply] = slack.to(MAYA)
    parts = reply.text.split("\n\n")
    assert parts[0] == "Dana Whitfield: the last 2 check-in(s), oldest first."
    assert parts[1].startswith("Dana Whitfield answered the check-in of 30 November 2026:")
    assert "> two" in parts[1] and "> three" in parts[2] and "> one" not in reply.text
    assert "hope 4→" in parts[2]
    slack.clear()
    await say(runtime, "answers lee", "coach-2", MAYA)  # Tom's client: Maya is not told Lee exists
    [refused] = slack.to(MAYA)
    assert refused.text == 'None of your clients is called "lee". Send "clients" to see them.'


async def test_two_replicas_releasing_at_once_send_each_waiting_message_once(
    build: Build, clock: ManualClock, slack: CollectingAdapter
) -> None:
    first = await build(coach=QUIET)
    second = await build(coach=QUIET)
    for week in range(3):
        clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC) + timedelta(weeks=week))
        await checkin(first, clock, [*STEADY, f"week {week}"])
    assert await waiting_count(first) == 3
    clock.set(datetime(2026, 12, 8, 8, 0, tzinfo=UTC))
    released = await asyncio.gather(first.housekeeping.release_waiting(), second.housekeeping.release_waiting())
    assert sum(released) == 3
    await first.outbox.drain()
    await second.outbox.drain()
    assert [m.text.split("\n")[-1] for m in slack.to(MAYA)] == ["> week 0", "> week 1", "> week 2"]
