"""Smaller hardening (issue 15, item 7): `reload` signals only the bot, files people's data is written to are
private, an open check-in survives its question set changing, and an alert quoting a long note still arrives.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from adapters.slack import SlackAdapter
from adapters.slack_blocks import escape
from adapters.telegram import TEXT_LIMIT, fit_text, telegram_length
from bot.config import load_config
from bot.config.question_sets import load_question_sets
from bot.contract.adapter import SendError
from bot.contract.messages import InboundText, OutboundMessage
from bot.conversation import engine
from bot.store import CheckIn
from bot.store.answers import answers_for
from bot.timing.clock import ManualClock
from tests.checkin_cli import checkin
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.fakes.fake_slack import FakeSlack
from tests.support.practice import CONFIG, DANA, MAYA, SLOT, write_config
from tests.test_cli_admin import seeded

__all__ = ["seeded"]  # the fixture, shared with the admin commands' tests

# ---- reload signals only the bot -------------------------------------------------------------------------


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the bot, whose pid a stale or crafted pid file may hold."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.process
def test_reload_refuses_a_pid_file_naming_a_process_that_is_not_the_bot(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    config = write_config(tmp_path)
    pid_file = tmp_path / "bot.pid"
    pid_file.write_text(f"{stranger.pid}\n", encoding="ascii")
    result = checkin("reload", "--config", str(config), "--pid-file", str(pid_file))
    assert result.exit_code != 0
    assert f"process {stranger.pid} is not `checkin run` with this config" in result.stderr
    assert stranger.poll() is None  # not signalled: SIGHUP would have ended it


@pytest.mark.parametrize("crafted", ["-1", "0"])
def test_reload_refuses_a_pid_that_is_not_one_process(tmp_path: Path, crafted: str) -> None:
    """``kill(-1)`` signals every process the user may signal, ``kill(0)`` the whole process group."""
    config = write_config(tmp_path)
    pid_file = tmp_path / "bot.pid"
    pid_file.write_text(f"{crafted}\n", encoding="ascii")
    result = checkin("reload", "--config", str(config), "--pid-file", str(pid_file))
    assert result.exit_code != 0
    assert "no usable pid file" in result.stderr


# ---- files people's data is written to are private -------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask, under which a file is created world-readable unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_export_and_trend_files_are_created_private(seeded: tuple[Path, str], tmp_path: Path, open_umask: None) -> None:
    config, _ = seeded
    exported = tmp_path / "dana.json"
    assert checkin("export", "dana", "-o", str(exported), "--config", str(config)).exit_code == 0
    assert mode_of(exported) == 0o600
    trend = tmp_path / "dana.png"
    trend.write_bytes(b"an older chart, readable by all")
    trend.chmod(0o644)
    assert checkin("trend", "dana", "-o", str(trend), "--config", str(config)).exit_code == 0
    assert mode_of(trend) == 0o600


async def test_the_console_keeps_charts_private_and_removes_them_when_it_stops(open_umask: None) -> None:
    console = ConsoleAdapter(io.StringIO())
    await console.start(lambda event: _ignore(event))
    await console.send(OutboundMessage("console", "dana", "your chart", image_png=b"\x89PNG chart"))
    [chart] = [Path(line.split("[chart: ")[1].rstrip("]")) for line in _printed(console) if "[chart: " in line]
    assert mode_of(chart) == 0o600
    assert mode_of(chart.parent) == 0o700
    await console.stop()
    assert not chart.exists() and not chart.parent.exists()


async def _ignore(event: object) -> None:
    del event


def _printed(console: ConsoleAdapter) -> list[str]:
    out = console._out  # the terminal the adapter printed to
    assert isinstance(out, io.StringIO)
    return out.getvalue().splitlines()


# ---- an open check-in keeps its own question set ---------------------------------------------------------

SHORT = """
id: short
name: Short check-in
questions:
  - {id: hope, kind: scale, dimension: hope, text: "How hopeful?", scale: {labels: {1: "Not at all", 5: "Very"}}}
  - {id: note, kind: text, dimension: note, optional: true, text: "Anything else?"}
"""
CHANGED = """
id: short
name: Short check-in
questions:
  - {id: trust, kind: scale, dimension: trust, text: "How freely?", scale: {labels: {1: "Not", 5: "Fully"}}}
"""


async def test_an_open_checkin_keeps_its_question_set_when_the_set_changes(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    (tmp_path / "short.yaml").write_text(SHORT, encoding="utf-8")
    text = CONFIG.replace("    cadence: weekly\n", "    cadence: weekly\n    question_set: short\n")
    path = write_config(tmp_path, text + "question_sets:\n  short: ./short.yaml\n")
    slack = CollectingAdapter("slack")
    runtime = runtime_for(path, database_target.create(), ManualClock(SLOT), {"slack": slack})
    await runtime.start()
    try:
        checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
        assert checkin_id is not None
        await runtime.inbound.handle(InboundText("slack", DANA, "ev-1", "4"))
        (tmp_path / "short.yaml").write_text(CHANGED, encoding="utf-8")
        config = load_config(path)
        await runtime.reconfigure(config, load_question_sets(config, path))
        await runtime.inbound.handle(InboundText("slack", DANA, "ev-2", "the sessions feel rushed"))
        await runtime.outbox.drain()
        async with runtime.database.session() as session:
            checkin_row = await session.get(CheckIn, checkin_id)
            assert checkin_row is not None and checkin_row.status == "completed"
            given = await answers_for(session, checkin_id)
        assert [(a.question_id, a.value, a.text) for a in given] == [
            ("hope", 4, None),
            ("note", None, "the sessions feel rushed"),
        ]
        # The next check-in asks the new set.
        next_id = await runtime.lifecycle.start_checkin("dana", SLOT + timedelta(weeks=1))
        assert next_id is not None
        await runtime.outbox.drain()
        assert slack.to(DANA)[-1].text.endswith("How freely?")
    finally:
        await runtime.stop()


# ---- an alert quoting a long note still arrives, with its suggestion ----------------------------------------

SUGGESTION = "For the next session: ask what would make the sessions feel less rushed."
LONG_ALERT = "\n".join(
    [
        "Check-in alert for Dana Whitfield (urgent)",
        "What changed: trust 1 on 23 Nov.",
        "Context: " + "the client wrote at length about the week " * 150,
        SUGGESTION,
        "Dana Whitfield wrote (note): “" + "the sessions feel rushed & <hurried> " * 1100 + "”",
    ]
)


def test_telegram_shortens_an_alert_keeping_its_suggestion() -> None:
    assert telegram_length(LONG_ALERT) > TEXT_LIMIT
    fitted = fit_text(LONG_ALERT)
    assert telegram_length(fitted) <= TEXT_LIMIT
    lines = fitted.split("\n")
    assert lines[:2] == LONG_ALERT.split("\n")[:2] and lines[3] == SUGGESTION
    assert lines[4].startswith("Dana Whitfield wrote (note): “the sessions") and lines[4].endswith("…")


@pytest.mark.integration
async def test_slack_sends_an_alert_quoting_a_40000_character_note_with_its_suggestion() -> None:
    assert len(LONG_ALERT) > 40_000  # over Slack's limit on a message's text, and far over its limit on blocks
    async with FakeSlack() as fake:
        fake.add_user(MAYA, "maya@example.com", "Maya Chen")
        adapter = SlackAdapter(fake.bot_token, app_token=fake.app_token, api_url=fake.api_url)
        await adapter.start(_ignore)
        try:
            await fake.wait_connected()
            alert = OutboundMessage("slack", MAYA, LONG_ALERT, step_key="coach", audience="coach", outbox_id=7)
            await adapter.send(alert)
        finally:
            await adapter.stop()
        [posted] = fake.sent_to(MAYA)
    shown = "".join(block["text"]["text"] for block in posted.blocks if block["type"] == "section")
    assert escape(SUGGESTION) in shown.split("\n") and escape(SUGGESTION) in posted.text.split("\n")
    assert "…" in shown


async def test_a_message_to_a_coach_that_fails_for_good_is_reported(
    database_target: DatabaseTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack = CollectingAdapter("slack")
    runtime = runtime_for(write_config(tmp_path), database_target.create(), ManualClock(SLOT), {"slack": slack})
    await runtime.start()
    try:
        async with runtime.database.transaction() as session:
            await runtime.setup.current.notices.tell_coach(
                session, "maya", (engine.Outgoing("Weekly digest for Maya Chen"),), None, "digest:maya:x", SLOT
            )
        slack.failures.append(SendError("Slack: msg_blocks_too_long", permanent=True))
        with caplog.at_level(logging.ERROR):
            await runtime.outbox.drain()
    finally:
        await runtime.stop()
    [report] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "to coach maya" in report.getMessage() and "msg_blocks_too_long" in report.getMessage()
