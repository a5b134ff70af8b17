"""The runtime end to end on both databases: dispatch, conversation, alerts, duplicates, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.builder import Bot
from bot.contract.adapter import SendError
from bot.contract.messages import InboundChoice, InboundText
from bot.store import Database
from bot.store.models import Alert, Answer, CheckIn, Client, OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG, DANA, MAYA, SLOT

RuntimeFactory = Callable[[], Bot]


@pytest.fixture
async def make_runtime(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[RuntimeFactory]:
    """Builds runtimes on one database, as a restart or a second replica would; stops them all after."""
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    started: list[Bot] = []

    def build() -> Bot:
        runtime = runtime_for(path, database_target.create(), clock, {"slack": slack}, worker_id=f"test-{len(started)}")
        started.append(runtime)
        return runtime

    yield build
    for runtime in started:
        await runtime.stop()


async def started(factory: RuntimeFactory) -> Bot:
    runtime = factory()
    await runtime.start()
    return runtime


async def say(runtime: Bot, text: str, key: str, sender: str = DANA) -> None:
    await runtime.inbound.handle(InboundText("slack", sender, key, text))
    await runtime.outbox.drain()


async def count(database: Database, entity: type[object]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


async def test_a_checkin_from_dispatch_to_coach_alert(make_runtime: RuntimeFactory, slack: CollectingAdapter) -> None:
    runtime = await started(make_runtime)
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    await runtime.outbox.drain()
    opening = slack.to(DANA)
    assert "Your coach, Maya Chen, sees each check-in when you finish it" in opening[0].text
    assert opening[-1].step_key == "progress:delegate"
    assert [c.value for c in opening[-1].choices] == ["1", "2", "3", "4", "5"]

    for n, reply in enumerate(["4", "4", "4", "1", "4", "4", "Be more direct with me", "Thanks"]):
        await say(runtime, reply, f"ev-{n}")

    record = await runtime.lifecycle.checkin_record(checkin_id)
    assert record.checkin.status == "completed"
    answers = {a.step_key: (a.value, a.text) for a in record.answers}
    assert answers["trust"] == (1, None)
    assert answers["repair"] == (None, "Be more direct with me")
    assert answers["progress:delegate"] == (4, None)
    [alert] = record.alerts
    assert alert.severity == "urgent"
    assert alert.signals[0]["kind"] == "low_score"
    assert alert.signals[0]["practice"] == "trust"
    summary, to_coach = slack.to(MAYA)  # the check-in first, then the alert about it
    assert summary.audience == "coach" and summary.choices == ()
    assert "trust 1" in summary.text
    assert to_coach.audience == "coach"
    assert summary.text.endswith("\nAn alert about this check-in follows, quoting what they wrote.")
    assert "What changed: trust 1 (floor 2)" in to_coach.text
    assert "Dana Whitfield wrote (repair): “Be more direct with me”" in to_coach.text
    # Issue 13: each of the client's words reaches the coach once, not in the summary and again in the alert.
    assert (summary.text + to_coach.text).count("Be more direct with me") == 1


async def test_no_alert_when_the_relationship_is_fine(make_runtime: RuntimeFactory, slack: CollectingAdapter) -> None:
    runtime = await started(make_runtime)
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    for n, reply in enumerate(["4", "4", "5", "4", "4", "5", "skip"]):
        await say(runtime, reply, f"ev-{n}")
    record = await runtime.lifecycle.checkin_record(checkin_id)
    assert record.checkin.status == "completed"
    assert record.alerts == ()
    [summary] = slack.to(MAYA)  # the check-in itself, and no alert
    assert summary.text.startswith("Dana Whitfield answered the check-in of 23 November 2026:")
    assert summary.choices == ()


async def test_the_same_slot_is_claimed_once(make_runtime: RuntimeFactory, slack: CollectingAdapter) -> None:
    first, second = await started(make_runtime), await started(make_runtime)
    assert await first.lifecycle.start_checkin("dana", SLOT) is not None
    assert await second.lifecycle.start_checkin("dana", SLOT) is None
    await first.outbox.drain()
    await second.outbox.drain()
    assert sum(m.step_key == "progress:delegate" for m in slack.sent) == 1


async def test_a_redelivered_event_acts_once(make_runtime: RuntimeFactory, slack: CollectingAdapter) -> None:
    runtime = await started(make_runtime)
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    await runtime.outbox.drain()
    slack.clear()
    await say(runtime, "4", "ev-1")
    await say(runtime, "2", "ev-1")  # the platform re-delivers the same event id
    assert len(slack.sent) == 1
    record = await runtime.lifecycle.checkin_record(checkin_id or 0)
    assert [(a.step_key, a.value) for a in record.answers] == [("progress:delegate", 4)]


async def test_unknown_senders_are_refused_and_nothing_is_stored(
    make_runtime: RuntimeFactory, slack: CollectingAdapter
) -> None:
    runtime = await started(make_runtime)
    await say(runtime, "hello, who are you?", "ev-stranger", sender="U0STRANGER")
    [refusal] = slack.sent
    assert refusal.recipient == "U0STRANGER"
    assert "don't have you on my list" in refusal.text
    assert await count(runtime.database, ProcessedEvent) == 0
    assert await count(runtime.database, OutboxMessage) == 0


async def test_a_restart_resumes_without_resending_a_question(
    make_runtime: RuntimeFactory, slack: CollectingAdapter
) -> None:
    before = await started(make_runtime)
    checkin_id = await before.lifecycle.start_checkin("dana", SLOT)
    await before.outbox.drain()
    await say(before, "4", "ev-1")
    await before.stop()
    asked_before = [m.step_key for m in slack.sent if m.step_key]
    assert asked_before == ["progress:delegate", "hope"]

    after = await started(make_runtime)
    assert await after.outbox.drain() == 0  # nothing left over, nothing sent twice
    await say(after, "5", "ev-2")
    asked = [m.step_key for m in slack.sent if m.step_key]
    assert asked == ["progress:delegate", "hope", "focus"]
    record = await after.lifecycle.checkin_record(checkin_id or 0)
    assert {a.step_key: a.value for a in record.answers} == {"progress:delegate": 4, "hope": 5}


async def test_a_button_from_an_older_checkin_answers_nothing(
    make_runtime: RuntimeFactory, slack: CollectingAdapter, clock: ManualClock
) -> None:
    runtime = await started(make_runtime)
    old = await runtime.lifecycle.start_checkin("dana", SLOT)
    new = await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1))
    assert old is not None
    assert new is not None
    await runtime.outbox.drain()
    slack.clear()
    await runtime.inbound.handle(InboundChoice("slack", DANA, "ev-old", old, "progress:delegate", "5"))
    await runtime.outbox.drain()
    assert "earlier question" in slack.sent[0].text
    assert (await runtime.lifecycle.checkin_record(new)).answers == ()
    assert (await runtime.lifecycle.checkin_record(old)).checkin.status == "expired"


async def test_pause_and_stop_hold_across_checkins(make_runtime: RuntimeFactory, clock: ManualClock) -> None:
    runtime = await started(make_runtime)
    assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
    await say(runtime, "pause 2w", "ev-1")
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1)) is None
    clock.advance(timedelta(weeks=2, minutes=1))
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=2, hours=1)) is not None
    await say(runtime, "stop", "ev-2")
    async with runtime.database.session() as session:
        client = await session.get(Client, "dana")
        assert client is not None
        assert client.opted_out_at == clock.now()
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=3)) is None
    await say(runtime, "resume", "ev-3")
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=4)) is not None


async def test_transient_send_failures_are_retried_and_permanent_ones_stop(
    make_runtime: RuntimeFactory, slack: CollectingAdapter, clock: ManualClock
) -> None:
    runtime = await started(make_runtime)
    slack.failures.append(SendError("rate limited", retry_after=30))
    await runtime.lifecycle.start_checkin("dana", SLOT)
    await runtime.outbox.drain()
    assert slack.sent == []  # the privacy notice failed, and nothing may overtake it
    async with runtime.database.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
        waiting = (await session.scalars(query)).all()
    assert len(waiting) == 3
    assert waiting[0].next_attempt_at >= clock.now() + timedelta(seconds=30)

    clock.advance(timedelta(seconds=29))
    assert await runtime.outbox.drain() == 0  # Retry-After is honoured
    clock.advance(timedelta(seconds=2))
    assert await runtime.outbox.drain() == 3
    assert "Your coach, Maya Chen, sees each check-in" in slack.sent[0].text
    assert slack.sent[1].text.startswith("Hi Dana")
    assert slack.sent[2].step_key == "progress:delegate"

    slack.failures.append(SendError("user blocked the bot", permanent=True))
    await say(runtime, "4", "ev-1")
    async with runtime.database.session() as session:
        failed = (await session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed"))).all()
    assert [f.last_error for f in failed] == ["user blocked the bot"]
    clock.advance(timedelta(hours=1))
    assert await runtime.outbox.drain() == 0


async def test_answers_and_checkins_are_stored_once_per_step(make_runtime: RuntimeFactory) -> None:
    runtime = await started(make_runtime)
    await runtime.lifecycle.start_checkin("dana", SLOT)
    for n, reply in enumerate(["4", "2", "back", "3"]):
        await say(runtime, reply, f"ev-{n}")
    assert await count(runtime.database, Answer) == 2
    assert await count(runtime.database, CheckIn) == 1
    assert await count(runtime.database, Alert) == 0


async def test_a_client_who_blocked_the_bot_is_marked_and_their_coach_told_once(
    make_runtime: RuntimeFactory, slack: CollectingAdapter, clock: ManualClock
) -> None:
    runtime = await started(make_runtime)
    # The refused notice takes the greeting and question queued behind it along, so they are not tried at all.
    slack.failures.append(SendError("403 blocked", permanent=True))
    await runtime.lifecycle.start_checkin("dana", SLOT)
    await runtime.outbox.drain()
    assert slack.to(DANA) == []
    [to_coach] = slack.to(MAYA)
    assert to_coach.audience == "coach"
    assert "Dana Whitfield can no longer be reached on Slack: Dana blocked the bot" in to_coach.text
    assert "403" not in to_coach.text  # the platform's own words stay in the logs
    async with runtime.database.session() as session:
        client = await session.get(Client, "dana")
        assert client is not None
        assert client.unreachable_at == clock.now()
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1)) is None  # nothing more is sent

    await say(runtime, "help", "ev-back")  # writing to the bot again proves they can be reached
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=2)) is not None
    await runtime.outbox.drain()
    assert len(slack.to(MAYA)) == 1


async def test_an_unacknowledged_urgent_alert_is_sent_once_more_with_its_chart(
    make_runtime: RuntimeFactory, slack: CollectingAdapter, clock: ManualClock
) -> None:
    runtime = await started(make_runtime)
    await runtime.lifecycle.start_checkin("dana", SLOT)
    for n, reply in enumerate(["4", "4", "4", "1", "4", "4", "skip", "skip"]):
        await say(runtime, reply, f"ev-{n}")
    _summary, alert = slack.to(MAYA)
    assert alert.image_png is not None
    assert alert.image_png.startswith(b"\x89PNG")
    clock.advance(timedelta(hours=23))
    assert await runtime.housekeeping.resend_unacknowledged() == 0
    clock.advance(timedelta(hours=1))
    assert await runtime.housekeeping.resend_unacknowledged() == 1
    assert await runtime.housekeeping.resend_unacknowledged() == 0
    await runtime.outbox.drain()
    _summary, first, again = slack.to(MAYA)
    assert again.text == "Not acknowledged yet, so here it is again in case it was missed:\n" + first.text
    assert again.image_png == first.image_png


async def test_event_ids_are_forgotten_after_a_week(make_runtime: RuntimeFactory, clock: ManualClock) -> None:
    runtime = await started(make_runtime)
    await say(runtime, "help", "ev-old")
    clock.advance(timedelta(days=6))
    await say(runtime, "help", "ev-new")
    assert await runtime.housekeeping.forget_old_events() == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert await runtime.housekeeping.forget_old_events() == 1
    assert await count(runtime.database, ProcessedEvent) == 1
