"""The builder's wiring, on both databases: start and stop order, and a reload that reaches every part."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import load_config
from bot.config.question_sets import load_question_sets
from bot.contract.adapter import AdapterStartError
from bot.contract.messages import InboundSink, InboundText, OutboundMessage
from bot.store import Database
from bot.store.models import CheckIn, Coach
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - {id: dana, name: Dana Whitfield, coach: maya, timezone: Europe/Paris, cadence: weekly,
     slack: {user_id: U0DANA0001}}
"""

SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DANA = "U0DANA0001"


class RecordingAdapter:
    """Writes down what the database holds when it is started and stopped, and whom it was given as its sink."""

    def __init__(self, name: str, database: Database, log: list[str], *, refuse: bool = False) -> None:
        self.name = name
        self.sink: InboundSink | None = None
        self._database = database
        self._log = log
        self._refuse = refuse

    async def start(self, sink: InboundSink) -> None:
        if self._refuse:
            self._log.append(f"{self.name} refused")
            raise AdapterStartError(f"{self.name} refused the token")
        self.sink = sink
        self._log.append(f"{self.name} started, coaches {await self._coaches()}")

    async def stop(self) -> None:
        self._log.append(f"{self.name} stopped, coaches {await self._coaches()}")

    async def send(self, message: OutboundMessage) -> str:
        return "sent"

    async def _coaches(self) -> list[str]:
        async with self._database.session() as session:
            return list((await session.scalars(select(Coach.id))).all())


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


async def test_adapters_start_after_the_people_are_stored_and_stop_before_the_database(
    database_target: DatabaseTarget, config_path: Path
) -> None:
    database = database_target.create()
    log: list[str] = []
    adapter = RecordingAdapter("slack", database, log)
    bot = runtime_for(config_path, database, ManualClock(SLOT), {"slack": adapter, "console": adapter})
    await bot.start()
    assert adapter.sink == bot.inbound.handle
    await bot.stop()
    # One adapter serving two platform names is started and stopped once.
    assert log == ["slack started, coaches ['maya']", "slack stopped, coaches ['maya']"]
    with pytest.raises(RuntimeError, match="has not been called"):
        database.session()  # closed last


async def test_a_refusing_platform_stops_what_already_started(
    database_target: DatabaseTarget, config_path: Path
) -> None:
    database = database_target.create()
    log: list[str] = []
    adapters = {
        "slack": RecordingAdapter("slack", database, log),
        "telegram": RecordingAdapter("telegram", database, log, refuse=True),
    }
    bot = runtime_for(config_path, database, ManualClock(SLOT), adapters)
    with pytest.raises(AdapterStartError, match="telegram refused the token"):
        await bot.start()
    assert log == [
        "slack started, coaches ['maya']",
        "telegram refused",
        "slack stopped, coaches ['maya']",
        "telegram stopped, coaches ['maya']",
    ]
    with pytest.raises(RuntimeError, match="has not been called"):
        database.session()


@pytest.fixture
def renamed_path(tmp_path: Path) -> Path:
    """The same config after the coach changed her name."""
    path = tmp_path / "renamed.yaml"
    path.write_text(CONFIG.replace("Maya Chen", "Maya Lopez"), encoding="utf-8")
    return path


async def test_a_reload_reaches_the_lifecycle_and_the_inbound_side(
    database_target: DatabaseTarget, config_path: Path, renamed_path: Path
) -> None:
    slack = CollectingAdapter("slack")
    bot = runtime_for(config_path, database_target.create(), ManualClock(SLOT), {"slack": slack})
    await bot.start()
    try:
        renamed = load_config(renamed_path)
        await bot.reconfigure(renamed, load_question_sets(renamed, renamed_path))
        assert await bot.lifecycle.start_checkin("dana", SLOT) is not None
        await bot.outbox.drain()
        assert "Your coach, Maya Lopez, sees each check-in when you finish it" in slack.to(DANA)[0].text

        slack.clear()
        await bot.inbound.handle(InboundText("slack", DANA, "ev-stop", "stop"))
        await bot.outbox.drain()
        assert "Your earlier answers stay with Maya Lopez, who is told you stopped." in " ".join(
            m.text for m in slack.to(DANA)
        )
    finally:
        await bot.stop()


async def test_a_reworded_question_set_is_asked_and_stored_from_the_next_checkin(
    database_target: DatabaseTarget, config_path: Path
) -> None:
    """A set is translated and serialized once per setup, not per check-in; a reload must not keep the old copy."""
    slack = CollectingAdapter("slack")
    bot = runtime_for(config_path, database_target.create(), ManualClock(SLOT), {"slack": slack})
    await bot.start()
    try:
        assert await bot.lifecycle.start_checkin("dana", SLOT) is not None
        config = load_config(config_path)
        sets = load_question_sets(config, config_path)
        reworded = replace(sets["default"].question("hope"), text="How much hope do you feel about your goals today?")
        questions = tuple(reworded if q.id == "hope" else q for q in sets["default"].questions)
        await bot.reconfigure(config, {**sets, "default": replace(sets["default"], questions=questions)})

        slack.clear()
        checkin_id = await bot.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1))
        assert checkin_id is not None
        await bot.outbox.drain()
        assert slack.to(DANA)[-1].text.endswith("How much hope do you feel about your goals today?")
        async with bot.database.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
        assert checkin is not None and checkin.questions is not None
        assert [q["text"] for q in checkin.questions["questions"] if q["id"] == "hope"] == [reworded.text]
    finally:
        await bot.stop()
