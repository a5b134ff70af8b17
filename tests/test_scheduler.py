"""The APScheduler timer: its slot times follow the slot maths, and start-up catches up before planning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy.engine import make_url

from bot.app.serve import _unless_stopped
from bot.config import load_config
from bot.scheduling import scheduler as scheduler_module
from bot.scheduling.client_schedule import schedule_for, slots_after
from bot.scheduling.dispatch import Dispatcher
from bot.scheduling.scheduler import Scheduler, SlotTimes
from bot.store import Database
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget, fresh_postgres_database
from tests.fakes import CollectingAdapter, runtime_for
from tests.fakes.tcp_proxy import TcpProxy

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  daily: {every: 1d, at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: UTC, slack: {user_id: U0MAYA0001}}
clients:
  - {id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: daily, slack: {user_id: U0DANA0001}}
"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_slot_times_fire_at_slots_and_never_in_the_past(tmp_path: Path) -> None:
    schedule = schedule_for(load_config(write_config(tmp_path)), "dana")
    slots = SlotTimes()
    slots.plan([schedule], datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    fired = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert slots.earliest() == fired
    assert slots.pop_due(fired - timedelta(seconds=1)) == []
    assert slots.pop_due(fired) == ["dana"]
    assert slots.next_slots() == {"dana": datetime(2026, 11, 24, 9, 0, tzinfo=UTC)}
    # Planned at the very instant of a slot, that slot still counts.
    slots.plan([schedule], fired)
    assert slots.earliest() == fired
    # Woken long after a fire (the loop was blocked, the machine slept): the next slot, not a backlog.
    late = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert slots.pop_due(late) == ["dana"]
    assert slots.earliest() == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_clients_sharing_a_slot_fire_together_and_a_paused_one_waits_for_its_pause_to_end(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG
        + "  - {id: eli, name: Eli Park, coach: maya, timezone: UTC, cadence: daily, slack: {user_id: U0ELI00001}}\n"
        + "  - {id: fay, name: Fay Lin, coach: maya, timezone: UTC, cadence: daily, paused_until: 2031-06-01,"
        + " slack: {user_id: U0FAY00001}}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    slots = SlotTimes()
    slots.plan([schedule_for(config, c) for c in ("dana", "eli", "fay")], datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert sorted(slots.pop_due(datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC))) == ["dana", "eli"]
    assert slots.next_slots() == {
        "dana": datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        "eli": datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        "fay": datetime(2031, 6, 1, 9, 0, tzinfo=UTC),
    }


async def test_start_catches_up_then_plans_each_next_slot(database_target: DatabaseTarget, tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    wall = datetime.now(UTC)
    clock = ManualClock(wall - timedelta(days=2))  # the client was added two days ago
    slack = CollectingAdapter("slack")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    clock.set(wall)
    scheduler = Scheduler(runtime.dispatcher(grace=timedelta(days=1)))
    try:
        await scheduler.start()
        runs = scheduler.next_runs()
        await runtime.outbox.drain()
    finally:
        await scheduler.stop()
        await runtime.stop()
    assert set(runs) == {"sweep", "client:dana"}
    schedule = schedule_for(config, "dana")
    assert runs["client:dana"] == slots_after(schedule, wall, 1)[0]
    # The last 09:00 lies within the one-day grace window, so start-up sent it.
    assert [m.step_key for m in slack.sent if m.step_key] == ["hope"]


@pytest.mark.integration
async def test_start_waits_out_a_database_outage_instead_of_ending_the_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The platforms are connected before the scheduler starts, so clients may be answering: a database that
    goes away during the catch-up used to end `checkin run` with the answers it had taken."""
    path = write_config(tmp_path)
    wall = datetime.now(UTC)
    clock = ManualClock(wall - timedelta(days=2))
    slack = CollectingAdapter("slack")
    async with fresh_postgres_database("the start-up outage test") as url:
        target = make_url(url)
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            database = Database(target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
            runtime = runtime_for(path, database, clock, {"slack": slack})
            await runtime.start()
            clock.set(wall)
            scheduler = Scheduler(runtime.dispatcher(grace=timedelta(days=1)))
            try:
                proxy.cut()  # every pooled connection dies and new ones are refused
                starting = asyncio.create_task(scheduler.start())
                while "start-up catch-up failed" not in caplog.text:
                    assert not starting.done(), "start gave up while the database was away"
                    await asyncio.sleep(0.05)
                assert not scheduler.running
                proxy.restore()
                await asyncio.wait_for(starting, timeout=60)
                await runtime.outbox.drain()
            finally:
                await scheduler.stop()
                await runtime.stop()
    assert [m.step_key for m in slack.sent if m.step_key] == ["hope"]  # the catch-up ran once the database was back


@pytest.mark.integration
async def test_a_stop_signal_ends_a_start_that_is_waiting_for_the_database(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    clock = ManualClock(datetime.now(UTC))
    async with fresh_postgres_database("the start-up outage test") as url:
        target = make_url(url)
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            database = Database(target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
            runtime = runtime_for(path, database, clock, {"slack": CollectingAdapter("slack")})
            await runtime.start()
            scheduler = Scheduler(runtime.dispatcher(grace=timedelta(days=1)))
            stopping = asyncio.Event()
            try:
                proxy.cut()
                waiting = asyncio.create_task(_unless_stopped(scheduler.start(), stopping))
                await asyncio.sleep(0.5)
                stopping.set()
                assert await asyncio.wait_for(waiting, timeout=10) is False
                assert not scheduler.running
            finally:
                proxy.restore()
                await scheduler.stop()
                await runtime.stop()


class _SlowSweep:
    """A dispatcher whose sweep is under way until the test lets it finish, as one talking to the database is."""

    def __init__(self) -> None:
        self.sweeping = asyncio.Event()
        self.finish = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def dispatch(self, due: object = None, *, with_schedules: bool = False) -> object:
        return SimpleNamespace(started=0, missed=0, schedules=[])

    async def sweep(self) -> None:
        self.sweeping.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1


async def test_stop_lets_a_sweep_under_way_finish_instead_of_cancelling_it_mid_query() -> None:
    """APScheduler's shutdown cancels the jobs it is running: a sweep cut off in a query made SQLAlchemy log
    'Error closing cursor' with a traceback on every SIGTERM that came during a sweep."""
    slow = _SlowSweep()
    scheduler = Scheduler(cast(Dispatcher, slow), sweep_interval=timedelta(seconds=0.05))
    slow.finish.set()
    await scheduler.start()  # the start-up catch-up sweeps once
    slow.finish.clear()
    slow.sweeping.clear()
    await asyncio.wait_for(slow.sweeping.wait(), timeout=10)
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done(), "stop did not wait for the sweep under way"
    assert not scheduler.running  # the health check says so from the moment the stop begins
    slow.finish.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert (slow.finished, slow.cancelled) == (2, 0)
    assert not scheduler.running


async def test_stop_cancels_a_sweep_that_outlasts_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep stuck on an unreachable database must not hold the process past a stop."""
    monkeypatch.setattr(scheduler_module, "STOP_GRACE", 0.1)
    slow = _SlowSweep()
    scheduler = Scheduler(cast(Dispatcher, slow), sweep_interval=timedelta(seconds=0.05))
    slow.finish.set()
    await scheduler.start()
    slow.finish.clear()
    slow.sweeping.clear()
    await asyncio.wait_for(slow.sweeping.wait(), timeout=10)
    await asyncio.wait_for(scheduler.stop(), timeout=10)
    assert (slow.finished, slow.cancelled) == (1, 1)
