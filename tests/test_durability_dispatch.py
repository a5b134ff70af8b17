"""A slot missed past the catch-up grace is logged once, not again on every pass that follows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.test_dispatch import DAILY_0230, client_yaml, config_text


async def test_a_slot_missed_past_grace_is_logged_once(
    database_target: DatabaseTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(DAILY_0230, [client_yaml("dana", "UTC")]), encoding="utf-8")
    clock = ManualClock(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    runtime = runtime_for(path, database_target.create(), clock, {"slack": CollectingAdapter("slack")})
    await runtime.start()
    try:
        dispatcher = runtime.dispatcher(grace=timedelta(hours=6))
        clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        with caplog.at_level(logging.WARNING, logger="bot.scheduling.dispatch"):
            reports = []
            for _ in range(5):
                reports.append(await dispatcher.dispatch())
                clock.advance(timedelta(minutes=1))
        missed_lines = [r for r in caplog.records if "missed by more than" in r.getMessage()]
        assert len(missed_lines) == 1
        assert [r.missed for r in reports] == [1, 0, 0, 0, 0]
        clock.set(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))
        assert (await dispatcher.dispatch()).started == 1  # the next slot is sent as usual
    finally:
        await runtime.stop()
