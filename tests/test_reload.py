"""Reloading the config in a running bot: valid files take effect, broken ones and a failing database do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.serve import reload_config
from bot.scheduling.scheduler import Scheduler
from bot.store.models import Client
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG, SLOT, write_config

ELI = """\
  - {id: eli, name: Eli Stone, coach: maya, timezone: UTC, cadence: weekly, slack: {user_id: U0ELI00001}}
"""


async def test_reload_applies_a_valid_file_and_keeps_the_old_config_otherwise(
    database_target: DatabaseTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path)
    clock = ManualClock(SLOT)
    runtime = runtime_for(path, database_target.create(), clock, {"slack": CollectingAdapter("slack")})
    await runtime.start()
    dispatcher = runtime.dispatcher()
    scheduler = Scheduler(dispatcher)
    try:
        path.write_text(CONFIG + ELI, encoding="utf-8")
        assert await reload_config(path, runtime, scheduler, dispatcher)
        assert [c.id for c in runtime.config.clients] == ["dana", "eli"]
        async with runtime.database.session() as session:
            assert (await session.scalars(select(Client.id).order_by(Client.id))).all() == ["dana", "eli"]

        path.write_text(CONFIG + ELI.replace("weekly", "hourly"), encoding="utf-8")
        assert not await reload_config(path, runtime, scheduler, dispatcher)
        assert "clients[1].cadence: unknown cadence 'hourly'" in caplog.text
        assert [c.id for c in runtime.config.clients] == ["dana", "eli"]

        await runtime.database.stop()  # the database goes away: the people cannot be synced
        path.write_text(CONFIG, encoding="utf-8")
        assert not await reload_config(path, runtime, scheduler, dispatcher)
        assert "config reload failed; still running the previous config" in caplog.text
        assert [c.id for c in runtime.config.clients] == ["dana", "eli"]
    finally:
        await runtime.stop()
