"""`retention_days`: the sweep deletes what is older, once a day, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.contract.messages import InboundText
from bot.store.models import CheckIn
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import DANA, write_config

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


async def test_the_sweep_purges_once_a_day_what_is_older_than_the_retention(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    path = write_config(tmp_path, retention_days=30)
    clock = ManualClock(START)
    runtime = runtime_for(path, database_target.create(), clock, {"slack": CollectingAdapter("slack")})
    await runtime.start()
    try:
        dispatcher = runtime.dispatcher()

        async def closed_checkin(key: str, slot: datetime) -> None:
            await runtime.lifecycle.start_checkin("dana", slot)
            await runtime.inbound.handle(InboundText("slack", DANA, key, "skip all"))
            await runtime.outbox.drain()

        async def checkins() -> int:
            async with runtime.database.session() as session:
                return int(await session.scalar(select(func.count()).select_from(CheckIn)) or 0)

        await closed_checkin("first", START)
        assert (await dispatcher.sweep()).purged == 0  # nothing is 30 days old yet
        assert await checkins() == 1

        clock.advance(timedelta(days=31))
        await closed_checkin("second", clock.now())
        assert (await dispatcher.sweep()).purged > 0
        assert await checkins() == 1  # the first went, with its messages and event record

        # Something old appears within the same day: it waits for tomorrow's purge.
        await closed_checkin("backdated", clock.now() - timedelta(days=40))
        clock.advance(timedelta(hours=12))
        assert (await dispatcher.sweep()).purged == 0
        assert await checkins() == 2
        clock.advance(timedelta(hours=13))
        assert (await dispatcher.sweep()).purged > 0
        assert await checkins() == 1
    finally:
        await runtime.stop()
