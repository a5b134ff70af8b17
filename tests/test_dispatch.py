"""Dispatch, reminders and expiry with an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app.builder import Bot
from bot.scheduling import dispatch as dispatch_module
from bot.scheduling.dispatch import Dispatcher
from bot.scheduling.pacing import CHUNK
from bot.store import CheckIn, coaching_sessions
from bot.store.models import Client
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for

HEADER = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
coaches:
  - id: maya
    name: Maya Chen
    timezone: Europe/London
    slack: {user_id: U0MAYA0001}
"""


def client_yaml(client_id: str, timezone: str, cadence: str = "daily") -> str:
    return f"""
  - id: {client_id}
    name: Client {client_id}
    coach: maya
    timezone: {timezone}
    cadence: {cadence}
    slack: {{user_id: U{client_id.upper()}}}
"""


def config_text(cadences: str, clients: list[str]) -> str:
    return HEADER + "cadences:\n" + cadences + "clients:\n" + "".join(clients)


DAILY_0230 = """
  daily:
    every: 1d
    at: "02:30"
    remind_after: 24h
    reminders: 1
    expire_after: 36h
"""

#: A second cadence of another kind: a cron, whose trigger the pass used to parse anew for every client.
CRON_0900 = """
  weekday_mornings:
    cron: "0 9 * * 1-5"
"""


class Build(Protocol):
    async def __call__(self, text: str, clock: ManualClock, grace: timedelta = ...) -> tuple[Bot, Dispatcher]: ...


@pytest.fixture
async def setup(database_target: DatabaseTarget, tmp_path: Path, slack: CollectingAdapter) -> AsyncIterator[Build]:
    """Builds (runtime, dispatcher) pairs on one database for a config text; several make replicas."""
    runtimes: list[Bot] = []

    async def build(text: str, clock: ManualClock, grace: timedelta = timedelta(hours=6)) -> tuple[Bot, Dispatcher]:
        path = tmp_path / "config.yaml"
        path.write_text(text, encoding="utf-8")
        runtime = runtime_for(path, database_target.create(), clock, {"slack": slack}, worker_id=f"w{len(runtimes)}")
        runtimes.append(runtime)
        await runtime.start()
        return runtime, runtime.dispatcher(grace=grace)

    yield build
    for runtime in runtimes:
        await runtime.stop()


async def checkins(runtime: Bot) -> list[CheckIn]:
    async with runtime.database.session() as session:
        return list((await session.scalars(select(CheckIn).order_by(CheckIn.slot))).all())


async def tick_through(dispatcher: Dispatcher, clock: ManualClock, until: datetime, step: timedelta) -> None:
    """What the timer does, minus the waiting: a pass at every step."""
    while clock.now() < until:
        clock.advance(step)
        await dispatcher.dispatch()


@pytest.mark.parametrize(
    ("timezone", "at", "day"),
    [("America/New_York", "02:30", date(2026, 3, 8)), ("Europe/London", "01:30", date(2026, 10, 25))],
    ids=["spring-forward", "fall-back"],
)
async def test_dst_days_get_exactly_one_checkin(setup: Build, timezone: str, at: str, day: date) -> None:
    zone = ZoneInfo(timezone)
    cadences = DAILY_0230.replace('"02:30"', f'"{at}"')
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    clock = ManualClock(start)
    runtime, dispatcher = await setup(config_text(cadences, [client_yaml("dana", timezone)]), clock)
    await tick_through(dispatcher, clock, start + timedelta(days=3), timedelta(minutes=10))
    local_days = [c.slot.astimezone(zone).date() for c in await checkins(runtime)]
    assert local_days == [day - timedelta(days=1), day, day + timedelta(days=1)]


async def test_a_missed_slot_is_sent_within_grace(setup: Build, slack: CollectingAdapter) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    runtime, dispatcher = await setup(config_text(DAILY_0230, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # down from before 02:30 until 07:00
    report = await dispatcher.dispatch()
    assert report.started == 1
    [checkin] = await checkins(runtime)
    assert checkin.slot == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
    assert (await dispatcher.dispatch()).started == 0  # a second pass finds nothing owed


async def test_a_slot_missed_past_grace_is_skipped_and_logged(setup: Build, caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    runtime, dispatcher = await setup(config_text(DAILY_0230, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="bot.scheduling.dispatch"):
        report = await dispatcher.dispatch()
    assert (report.started, report.missed) == (0, 1)
    assert "missed by more than the 6:00:00 grace window" in caplog.text
    assert await checkins(runtime) == []
    clock.set(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 1  # the next slot is sent as usual


async def test_only_the_latest_of_several_due_slots_is_sent(setup: Build) -> None:
    every_hour = '\n  daily:\n    cron: "0 * * * *"\n    remind_after: 30m\n    reminders: 0\n    expire_after: 50m\n'
    clock = ManualClock(datetime(2026, 11, 23, 0, 30, tzinfo=UTC))
    runtime, dispatcher = await setup(config_text(every_hour, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 4, 10, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 1
    assert [c.slot.hour for c in await checkins(runtime)] == [4]


async def test_reminders_then_expiry(setup: Build, slack: CollectingAdapter) -> None:
    cadences = (
        '\n  daily:\n    every: 1w\n    on: [mon]\n    at: "09:00"\n'
        "    remind_after: 24h\n    reminders: 2\n    expire_after: 72h\n"
    )
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # a Monday
    runtime, dispatcher = await setup(config_text(cadences, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 1
    await runtime.outbox.drain()
    slack.clear()
    for hours, expected in [(23, (0, 0)), (24, (1, 0)), (25, (0, 0)), (48, (1, 0)), (71, (0, 0)), (72, (0, 1))]:
        clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC) + timedelta(hours=hours))
        report = await dispatcher.sweep()
        assert (report.reminded, report.expired) == expected, hours
    await runtime.outbox.drain()
    texts = [m.text for m in slack.sent]
    assert sum("gentle nudge" in t for t in texts) == 2
    assert sum(m.step_key == "progress:delegate" or m.step_key == "hope" for m in slack.sent) == 2  # re-asked
    assert "check-in has closed" in texts[-1]
    [checkin] = await checkins(runtime)
    assert (checkin.status, checkin.reminders_sent) == ("expired", 2)
    assert await dispatcher.sweep() == type(await dispatcher.sweep())()  # nothing more to do


async def test_reminders_wait_for_the_end_of_quiet_hours(setup: Build, slack: CollectingAdapter) -> None:
    cadences = (
        '\n  daily:\n    every: 1d\n    at: "18:00"\n    quiet_hours: {start: "21:00", end: "08:00"}\n'
        "    remind_after: 4h\n    reminders: 1\n    expire_after: 48h\n"
    )
    clock = ManualClock(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    _, dispatcher = await setup(config_text(cadences, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 1
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=UTC))
    assert (await dispatcher.sweep()).reminded == 0
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert (await dispatcher.sweep()).reminded == 1


async def test_replicas_dispatching_together_start_each_checkin_once(setup: Build, slack: CollectingAdapter) -> None:
    clients = [client_yaml(f"c{n:03d}", "Europe/Paris") for n in range(60)]
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    text = config_text(DAILY_0230, clients)
    (first, one), (second, two) = await setup(text, clock), await setup(text, clock)
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 03:00 in Paris: every client is due
    reports = await asyncio.gather(one.dispatch(), two.dispatch())
    assert sum(r.started for r in reports) == 60
    await asyncio.gather(first.outbox.drain(), second.outbox.drain())
    assert len(await checkins(first)) == 60
    opening_questions = [m.recipient for m in slack.sent if m.step_key is not None]
    assert sorted(opening_questions) == sorted(f"UC{n:03d}" for n in range(60))


async def test_a_claimed_slot_is_passed_over_without_waiting_for_its_clients_lock(
    setup: Build, database_target: DatabaseTarget
) -> None:
    """A replica retrying the clients another one held finds most of their slots claimed by then: it drops those
    before locking any client, so it neither waits on nor locks a client it has nothing to start for."""
    if database_target.backend != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time")
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    runtime, dispatcher = await setup(config_text(DAILY_0230, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 23, 2, 30, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 1
    [checkin] = await checkins(runtime)
    async with runtime.database.transaction() as elsewhere:
        await elsewhere.execute(select(Client.id).where(Client.id == "dana").with_for_update())
        claim = runtime.lifecycle.claim_due([("dana", checkin.slot)], skip_busy=False)
        assert await asyncio.wait_for(claim, timeout=5) == ({}, [])


async def test_a_session_recorded_by_the_coach_schedules_the_next_checkin(setup: Build) -> None:
    after_sessions = '\n  daily:\n    after_sessions: {days: 2, at: "09:00"}\n'
    clock = ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    runtime, dispatcher = await setup(config_text(after_sessions, [client_yaml("dana", "UTC")]), clock)
    clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == 0  # no session yet, so nothing is owed
    async with runtime.database.transaction() as session:
        assert await coaching_sessions.record_session(session, "dana", date(2026, 11, 23), "maya", clock.now())
    assert (await dispatcher.dispatch()).started == 1
    [checkin] = await checkins(runtime)
    assert checkin.slot == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


async def test_a_pass_over_many_clients_lets_other_tasks_run_between_chunks(
    setup: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass over every client gives the event loop a turn every ``CHUNK`` clients, so an inbound reply or a
    Slack acknowledgement never waits for the whole pass (at 10,000 clients that was over a second)."""
    count = 4 * CHUNK
    clock = ManualClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    clients = [client_yaml(f"c{n:04d}", "UTC", "weekday_mornings" if n % 2 else "daily") for n in range(count)]
    _, dispatcher = await setup(config_text(DAILY_0230 + CRON_0900, clients), clock)
    clock.set(datetime(2026, 6, 2, 2, 30, tzinfo=UTC))
    assert (await dispatcher.dispatch()).started == count // 2
    clock.advance(timedelta(hours=2))  # nothing new due; half the clients have a check-in open for the sweep

    since_turn = 0
    longest = 0
    original = dispatch_module.schedule_for

    def counting_schedule_for(*args: Any, **kwargs: Any) -> Any:
        nonlocal since_turn, longest
        since_turn += 1
        longest = max(longest, since_turn)
        return original(*args, **kwargs)

    monkeypatch.setattr(dispatch_module, "schedule_for", counting_schedule_for)
    done = False

    async def other_task() -> None:
        nonlocal since_turn
        while not done:
            since_turn = 0
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    for work in (dispatcher.dispatch, dispatcher.schedules, dispatcher.sweep):
        await work()
    done = True
    await task
    assert 0 < longest <= CHUNK
