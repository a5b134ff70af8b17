"""A reload cannot re-bind a running HTTP server: changed ``http_servers`` limits are named as waiting for a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.serve import reload_config
from bot.scheduling.scheduler import Scheduler
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG, SLOT, write_config


async def test_changed_http_limits_wait_for_a_restart(
    database_target: DatabaseTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path)
    runtime = runtime_for(path, database_target.create(), ManualClock(SLOT), {"slack": CollectingAdapter("slack")})
    await runtime.start()
    dispatcher = runtime.dispatcher()
    try:
        path.write_text("http_servers: {max_connections: 64}\n" + CONFIG, encoding="utf-8")
        assert await reload_config(path, runtime, Scheduler(dispatcher), dispatcher)
        assert "http_servers settings take effect at the next restart" in caplog.text
    finally:
        await runtime.stop()
