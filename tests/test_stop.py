"""`stop` is honoured everywhere at once (issue 7): nothing more reaches the client, whatever was already queued.

The reply confirming the stop is queued in the same transaction as the opt-out and still goes; messages to the
client queued before it (an opening question, a reminder waiting for its retry, the thanks of a check-in) are
cancelled when the outbox reaches them. Their coach's messages are not the client's to stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.builder import Bot
from bot.contract.adapter import SendError
from bot.contract.messages import InboundText
from bot.store import outbox
from bot.store.models import OutboxMessage
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG, DANA, MAYA, SLOT
from tests.test_runtime import say

STOPPED = "Done: you will get no more check-ins."


@pytest.fixture
async def runtime(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[Bot]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    yield runtime
    await runtime.stop()


async def stop_without_sending(runtime: Bot, key: str) -> None:
    """Dana says stop; the outbox has not run since whatever was queued before."""
    await runtime.inbound.handle(InboundText("slack", DANA, key, "stop"))


async def statuses(runtime: Bot) -> dict[str, tuple[str, str | None]]:
    async with runtime.database.session() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return {row.idempotency_key: (row.status, row.last_error) for row in rows}


async def test_messages_queued_before_stop_are_cancelled_and_the_confirmation_goes(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None  # its opening messages wait in the outbox
    clock.advance(timedelta(minutes=5))
    await stop_without_sending(runtime, "ev-stop")
    await runtime.outbox.drain()
    [confirmation] = slack.to(DANA)
    assert confirmation.text.startswith(STOPPED)
    rows = await statuses(runtime)
    opening = [status for key, status in rows.items() if key.startswith(f"checkin:{checkin_id}:open")]
    assert opening and all(status == ("cancelled", outbox.OPTED_OUT) for status in opening)
    assert rows["reply:slack:ev-stop:0"] == ("sent", None)


async def test_a_reminder_waiting_for_its_retry_is_not_sent_after_stop(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    await runtime.outbox.drain()
    opened = len(slack.to(DANA))
    clock.advance(timedelta(days=1))
    assert await runtime.lifecycle.remind(checkin_id, 1)
    slack.failures.append(SendError("rate limited", retry_after=60))
    await runtime.outbox.drain()  # the reminder is refused once and waits a minute for its retry
    clock.advance(timedelta(seconds=10))
    await stop_without_sending(runtime, "ev-stop")
    clock.advance(timedelta(minutes=5))
    await runtime.outbox.drain()
    after = slack.to(DANA)[opened:]
    assert [m.text[: len(STOPPED)] for m in after] == [STOPPED]
    assert (await statuses(runtime))[f"checkin:{checkin_id}:reminder:1:0"] == ("cancelled", outbox.OPTED_OUT)


async def test_after_stop_no_reminder_and_no_new_checkin_until_resume(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    await runtime.outbox.drain()
    await say(runtime, "stop", "ev-stop")
    sent = len(slack.to(DANA))
    clock.advance(timedelta(days=1))
    assert not await runtime.lifecycle.remind(checkin_id, 1)
    assert not await runtime.lifecycle.expire(checkin_id)
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1)) is None
    await runtime.outbox.drain()
    assert len(slack.to(DANA)) == sent
    # Writing again after the stop is answered: that reply was queued after it.
    await say(runtime, "help", "ev-help")
    assert len(slack.to(DANA)) == sent + 1
    await say(runtime, "resume", "ev-resume")
    assert await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=2)) is not None


async def test_stop_leaves_the_coachs_messages_alone(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    await runtime.lifecycle.start_checkin("dana", SLOT)
    for n, reply in enumerate(["4", "4", "4", "1", "4", "4", "skip"]):
        await say(runtime, reply, f"ev-{n}")
    # The last answer completes the check-in: the thanks to Dana and the alert to Maya are queued together.
    await runtime.inbound.handle(InboundText("slack", DANA, "ev-last", "skip"))
    sent = len(slack.to(DANA))
    clock.advance(timedelta(seconds=30))
    await stop_without_sending(runtime, "ev-stop")
    await runtime.outbox.drain()
    assert [m.text[: len(STOPPED)] for m in slack.to(DANA)[sent:]] == [STOPPED]
    _summary, alert, stopped = slack.to(MAYA)
    assert "What changed: trust 1 (floor 2)" in alert.text
    assert stopped.text.startswith('Dana Whitfield sent "stop"')
