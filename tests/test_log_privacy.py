"""Logs never contain answer text or tokens (DESIGN §7), and free text stays sealed at rest end to end.

Each test drives whole check-ins, with what the client writes and the bot's token both distinctive, captures
every log record the run produces and searches each one (message, arguments, traceback) for either.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from adapters.telegram import TelegramAdapter, WebhookSettings
from bot.contract.adapter import SendError
from bot.contract.messages import InboundText
from bot.observability.logs import QUIET_LOGGERS
from bot.store import Database
from bot.store.sealing import KEY_ENV, PLAIN, Sealer
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_telegram import FakeTelegram
from tests.support.practice import DANA, MAYA, SLOT, write_config
from tests.test_slack import CONFIG as SLACK_CONFIG
from tests.test_slack import DANA as SLACK_DANA
from tests.test_slack import MAYA as SLACK_MAYA
from tests.test_slack import Setup as SlackSetup
from tests.test_slack import bot_says as slack_says
from tests.test_slack import make_adapter, workspace
from tests.test_slack import press as slack_press
from tests.test_slack import say as slack_say
from tests.test_telegram import CONFIG as TELEGRAM_CONFIG
from tests.test_telegram import DANA_CHAT, MAYA_CHAT, Setup, bind, bot_says, eventually, press

pytestmark = pytest.mark.integration

WORDS = "zebra-secret-words"
NOTE = f"I am not sure these sessions are helping, {WORDS}"
SLACK_TOKEN = "xoxb-test-zebra-token"
TELEGRAM_TOKEN = "424242:zebra-bot-token-TEST"
SECRETS = (WORDS, "zebra")


def leaks(records: list[logging.LogRecord]) -> list[str]:
    """Every captured record that mentions a secret, formatted with its arguments and traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    found = []
    for record in records:
        shown = " ".join((formatter.format(record), repr(record.msg), repr(record.args)))
        if any(secret in shown for secret in SECRETS):
            found.append(shown)
    return found


def _quiet(name: str) -> bool:
    return any(name == quiet or name.startswith(f"{quiet}.") for quiet in QUIET_LOGGERS)


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Root and every logger already made (the bot's, the adapters', the libraries') at DEBUG.

    Except the ones that log statements or requests with their parameters: `checkin run` pins those at WARNING
    (``QUIET_LOGGERS``), and SQLAlchemy's is its ``echo``, which the bot leaves off.
    """
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    saved = {logger.name: logger.level for logger in loggers}
    caplog.set_level(logging.DEBUG)
    for logger in loggers:
        if _quiet(logger.name):
            logger.setLevel(logging.WARNING)
        elif not logger.name.startswith("sqlalchemy"):
            logger.setLevel(logging.DEBUG)
    yield caplog
    for logger in loggers:
        logger.setLevel(saved[logger.name])


@pytest.fixture
def run_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The levels `checkin run` sets, with the root at DEBUG rather than INFO (stricter)."""
    caplog.set_level(logging.DEBUG)
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield caplog
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def raw_values(database: Database) -> str:
    """Everything the three free-text columns hold, as someone with a copy of the database would read it."""
    async with database.session() as session:
        found = []
        for sql in ("SELECT text FROM answers", "SELECT signals FROM alerts", "SELECT payload FROM outbox"):
            found += [str(value) for value in (await session.execute(text(sql))).scalars()]
    return "\n".join(found)


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "plain"])
async def test_a_checkin_with_an_alert_logs_no_words_or_token(
    database_target: DatabaseTarget,
    tmp_path: Path,
    every_logger_at_debug: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    sealed: bool,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    path = write_config(tmp_path)
    sealer = Sealer([Fernet.generate_key()]) if sealed else PLAIN
    slack = CollectingAdapter("slack")
    database = database_target.create(sealer)
    clock = ManualClock(SLOT)
    runtime = runtime_for(path, database, clock, {"slack": slack})
    await runtime.start()
    try:
        checkin_id = await runtime.lifecycle.start_checkin("dana", SLOT)
        assert checkin_id is not None
        # A send refused once and retried, and every event delivered twice: paths that log.
        slack.failures.append(SendError("rate limited", retry_after=30))
        await runtime.outbox.drain()
        clock.advance(timedelta(minutes=1))
        await runtime.outbox.drain()
        for n, reply in enumerate(["4", "4", "4", "1", "4", "4", NOTE, NOTE]):
            await runtime.inbound.handle(InboundText("slack", DANA, f"ev-{n}", reply))
            await runtime.inbound.handle(InboundText("slack", DANA, f"ev-{n}", reply))
            await runtime.outbox.drain()
        _summary, alert = slack.to(MAYA)
        assert WORDS in alert.text  # the coach reads the client's own words
        record = await runtime.lifecycle.checkin_record(checkin_id)
        assert {a.step_key: a.text for a in record.answers}["note"] == NOTE
        at_rest = await raw_values(database)
        assert (WORDS in at_rest) is not sealed
    finally:
        await runtime.stop()
    assert any("duplicate slack event" in r.getMessage() for r in every_logger_at_debug.records)
    assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)  # echo is off
    assert leaks(every_logger_at_debug.records) == []


async def test_a_dropped_key_is_logged_by_row_not_by_content(
    database_target: DatabaseTarget, tmp_path: Path, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path)
    slack = CollectingAdapter("slack")
    old = runtime_for(
        path, database_target.create(Sealer([Fernet.generate_key()])), ManualClock(SLOT), {"slack": slack}
    )
    new = runtime_for(
        path, database_target.create(Sealer([Fernet.generate_key()])), ManualClock(SLOT), {"slack": slack}
    )
    # Both start on a database with nothing sealed yet (a start with keys that open nothing stored is refused):
    # ``new`` is a replica that was never given the key ``old`` seals with.
    await old.start()
    await new.start()
    checkin_id = await old.lifecycle.start_checkin("dana", SLOT)
    assert checkin_id is not None
    # Trust at 1 asks the repair question, answered in words; the note is left for later.
    for n, reply in enumerate(["4", "4", "4", "1", "4", "4", NOTE]):
        await old.inbound.handle(InboundText("slack", DANA, f"ev-{n}", reply))
    await old.stop()
    try:
        # The conversation goes on: the last answer completes the check-in and the detectors read the history.
        await new.inbound.handle(InboundText("slack", DANA, "ev-last", "skip"))
        await new.outbox.drain()
        record = await new.lifecycle.checkin_record(checkin_id)
        assert record.checkin.status == "completed"
        assert {a.step_key: a.text for a in record.answers}["repair"] is None
        _summary, alert = slack.to(MAYA)
        assert "What changed: trust 1 (floor 2)" in alert.text
    finally:
        await new.stop()
    warnings = [r.getMessage() for r in every_logger_at_debug.records if r.levelno == logging.WARNING]
    assert any(KEY_ENV in message and "answer" in message for message in warnings)
    assert any(KEY_ENV in message and "outbox row" in message for message in warnings)  # the unsent opening
    assert leaks(every_logger_at_debug.records) == []


# ---- Telegram: a real SDK and HTTP client, under the levels `checkin run` sets --------------------------


@asynccontextmanager
async def telegram_setup(target: DatabaseTarget, tmp_path: Path, *, webhook: bool) -> AsyncIterator[Setup]:
    """Dana and Maya on Telegram, the bot's token distinctive and its free text sealed."""
    path = write_config(tmp_path, TELEGRAM_CONFIG)
    clock = ManualClock(SLOT)
    settings = WebhookSettings("https://bot.example.test/telegram", "127.0.0.1", 0, "webhook-secret")
    async with FakeTelegram(token=TELEGRAM_TOKEN, per_chat_rate=Rate(1.0, burst=50)) as fake:
        if webhook:
            adapter = TelegramAdapter(fake.token, fake.api_url, mode="webhook", webhook=settings)
        else:
            adapter = TelegramAdapter(fake.token, fake.api_url)
        database = database_target_create(target)
        runtime = runtime_for(path, database, clock, {"telegram": adapter})
        await runtime.start()
        fake.webhook_port = adapter.webhook_port
        try:
            yield Setup(fake, adapter, runtime, clock, database)
        finally:
            await runtime.stop()


def database_target_create(target: DatabaseTarget) -> Database:
    return target.create(Sealer([Fernet.generate_key()]))


async def test_telegram_checkin_logs_no_words_or_token(
    database_target: DatabaseTarget, tmp_path: Path, run_logging: pytest.LogCaptureFixture
) -> None:
    async with telegram_setup(database_target, tmp_path, webhook=False) as s:
        await bind(s, "client", "dana", DANA_CHAT)
        await bind(s, "coach", "maya", MAYA_CHAT)
        assert await s.runtime.lifecycle.start_checkin("dana", SLOT) is not None
        await bot_says(s, DANA_CHAT, 1)
        for value in ["4", "4", "4", "1", "4", "4"]:
            before = len(s.fake.sent_to(DANA_CHAT))
            await press(s, DANA_CHAT, value)
            await bot_says(s, DANA_CHAT, before)
        for reply in [NOTE, NOTE]:
            before = len(s.fake.sent_to(DANA_CHAT))
            update = s.fake.push_text(DANA_CHAT, reply)
            await bot_says(s, DANA_CHAT, before)
        s.fake.redeliver(update)  # Telegram sends the last message again: the runtime logs that it ignored it

        async def ignored() -> bool:
            return any("duplicate telegram event" in r.getMessage() for r in run_logging.records)

        await eventually(ignored)
        to_coach = await bot_says(s, MAYA_CHAT, 1)
        assert any(WORDS in (m.caption or m.text or "") for m in to_coach)
        assert WORDS not in await raw_values(s.database)
    # httpx would log every request URL, and with it the token, at INFO.
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert leaks(run_logging.records) == []


async def test_an_unreadable_telegram_update_is_logged_by_id_not_content(
    database_target: DatabaseTarget, tmp_path: Path, run_logging: pytest.LogCaptureFixture
) -> None:
    async with telegram_setup(database_target, tmp_path, webhook=True) as s:
        broken = {"update_id": 987654, "message": {"message_id": 1, "date": "soon", "chat": {"id": 1}, "text": NOTE}}
        assert await s.fake.post_to_webhook(broken) == 200
    messages = [r.getMessage() for r in run_logging.records]
    assert "Telegram webhook: update 987654 could not be read and is ignored" in messages
    assert leaks(run_logging.records) == []


async def test_a_database_error_does_not_carry_the_statements_parameters(database: Database) -> None:
    """Errors are logged with their message; SQLAlchemy would put the parameters (answer text) in it."""
    with pytest.raises(SQLAlchemyError) as raised:
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table WHERE x = :secret"), {"secret": WORDS})
    assert WORDS not in str(raised.value)


async def test_slack_checkin_logs_no_words_or_token(
    database_target: DatabaseTarget, tmp_path: Path, run_logging: pytest.LogCaptureFixture
) -> None:
    """Through the real Slack adapter and its SDK clients, with a distinctive bot token the fake accepts."""
    path = write_config(tmp_path, SLACK_CONFIG)
    async with FakeSlack(per_channel_rate=Rate(1.0, burst=50)) as fake:
        fake.bot_token = SLACK_TOKEN
        workspace(fake)
        adapter = make_adapter(fake, "socket")
        database = database_target_create(database_target)
        clock = ManualClock(SLOT)
        runtime = runtime_for(path, database, clock, {"slack": adapter})
        await runtime.start()
        try:
            await fake.wait_connected()
            s = SlackSetup("socket", fake, adapter, runtime, clock, database)
            assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
            await slack_says(s, SLACK_DANA, 0)
            for value in ["4", "4", "4", "1", "4", "4"]:
                before = len(fake.sent_to(SLACK_DANA))
                await slack_press(s, SLACK_DANA, value)
                await slack_says(s, SLACK_DANA, before)
            for reply in [NOTE, NOTE]:
                before = len(fake.sent_to(SLACK_DANA))
                note = await slack_say(s, SLACK_DANA, reply)
                await slack_says(s, SLACK_DANA, before)
            await s.redeliver(note)  # the runtime logs that it ignored the repeat, by event id

            async def ignored() -> bool:
                return any("duplicate slack event" in r.getMessage() for r in run_logging.records)

            await eventually(ignored)
            to_coach = await slack_says(s, SLACK_MAYA, 0)
            assert any(WORDS in m.text for m in to_coach)
            assert WORDS not in await raw_values(database)
        finally:
            await runtime.stop()
    assert any(c.method == "chat.postMessage" for c in fake.calls)  # the token was used on every call
    assert leaks(run_logging.records) == []
