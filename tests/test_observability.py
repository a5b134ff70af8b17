"""Logs as JSON, the metrics the runtime and the outbox keep, and the /healthz and /metrics server, in process.

The `checkin run` process with the server switched on is tested in ``test_observability_run.py``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app.builder import Bot
from bot.contract.adapter import SendError
from bot.contract.messages import InboundText
from bot.observability.errors import ListenError
from bot.observability.logs import QUIET_LOGGERS, JsonFormatter, configure_logging
from bot.observability.metrics import Metrics, count_on_commit
from bot.observability.server import ObservabilityServer
from bot.scheduling.scheduler import Scheduler
from bot.store import Database
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget, isolated_target
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import DANA, SLOT

pytestmark = pytest.mark.integration

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00", remind_after: 24h, reminders: 0, expire_after: 72h}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
  - {id: sam, name: Sam Okafor, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {user_id: U0SAM00001}}
"""


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# ---- logs -------------------------------------------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """``configure_logging`` replaces the root logger's handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def test_a_json_log_line_has_time_level_logger_message_and_nothing_else() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.observability.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("row %s failed: %s", 7, "timeout", extra={"answer": "I want to stop coaching"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("pass failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message"}
    assert (first["level"], first["logger"], first["message"]) == (
        "WARNING",
        "tests.observability.json",
        "row 7 failed: timeout",
    )
    assert datetime.fromisoformat(first["time"]).utcoffset() == timedelta(0)
    assert second["message"] == "pass failed"
    assert second["exception"].startswith("Traceback")
    assert "ValueError: boom" in second["exception"]


@pytest.mark.usefixtures("root_logging")
def test_configured_json_logs_keep_token_bearing_libraries_quiet() -> None:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream)
    logging.getLogger("bot.runtime.lifecycle").debug("check-in %s claimed", 12)
    # httpx logs request URLs at INFO, and a Telegram Bot API URL holds the token
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1:8081/bot123:fake-token/getMe")
    logging.getLogger("telegram.ext").debug("update body")
    logging.getLogger("aiosqlite").debug("executing functools.partial(<execute>, 'INSERT ...', ('an answer',))")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [("bot.runtime.lifecycle", "check-in 12 claimed")]


@pytest.mark.usefixtures("root_logging")
def test_text_logs_at_warning_leave_info_out() -> None:
    stream = io.StringIO()
    configure_logging("text", "WARNING", stream)
    logging.getLogger("bot.delivery.outbox").info("sent")
    logging.getLogger("bot.delivery.outbox").warning("row %s failed for good", 3)
    [line] = stream.getvalue().splitlines()
    assert line.endswith(" WARNING bot.delivery.outbox: row 3 failed for good")


# ---- metrics through the runtime ----------------------------------------------------------------------------


@pytest.fixture
async def runtime(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[Bot]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    built = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await built.start()
    yield built
    await built.stop()


async def say(runtime: Bot, text: str, key: str) -> None:
    await runtime.inbound.handle(InboundText("slack", DANA, key, text))
    await runtime.outbox.drain()


async def test_checkins_sent_completed_and_alerts_are_counted(runtime: Bot) -> None:
    metrics = runtime.metrics
    assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
    assert await runtime.lifecycle.start_checkin("dana", SLOT) is None  # a lost claim sends nothing and counts nothing
    assert sample(metrics, "checkin_checkins_sent_total") == 1
    await runtime.outbox.drain()
    for n, reply in enumerate(["4", "4", "4", "1", "4", "4", "Be more direct with me"]):
        await say(runtime, reply, f"ev-{n}")
        assert sample(metrics, "checkin_checkins_completed_total") == 0
    await say(runtime, "Thanks", "ev-7")
    assert sample(metrics, "checkin_checkins_completed_total") == 1
    assert sample(metrics, "checkin_alerts_total", severity="urgent") == 1
    assert sample(metrics, "checkin_alerts_total", severity="watch") == 0
    await say(runtime, "Thanks", "ev-7")  # a re-delivery is received again, but completes nothing
    assert sample(metrics, "checkin_inbound_events_total", platform="slack") == 9
    assert sample(metrics, "checkin_checkins_completed_total") == 1
    assert sample(metrics, "checkin_checkins_expired_total") == 0


async def test_an_expired_checkin_is_counted_once(runtime: Bot) -> None:
    checkin_id = await runtime.lifecycle.start_checkin("sam", SLOT)
    assert checkin_id is not None
    assert await runtime.lifecycle.expire(checkin_id)
    assert not await runtime.lifecycle.expire(checkin_id)  # already closed: another replica's sweep, say
    assert sample(runtime.metrics, "checkin_checkins_expired_total") == 1
    assert sample(runtime.metrics, "checkin_checkins_sent_total") == 1


async def test_send_failures_are_counted_by_what_happens_next(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    slack.failures.extend(
        [
            SendError("rate limited", retry_after=1),
            SendError("timed out after the request went out", ambiguous=True),
            SendError("user blocked the bot", permanent=True),
        ]
    )
    assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
    for _ in range(3):
        await runtime.outbox.drain()
        clock.advance(timedelta(hours=1))

    def failures(kind: str) -> float:
        return sample(runtime.metrics, "checkin_send_failures_total", platform="slack", kind=kind)

    assert (failures("retry"), failures("ambiguous"), failures("permanent")) == (1, 1, 1)


async def count_then_roll_back(database: Database, counter: Counter) -> None:
    async with database.transaction() as session:
        await session.execute(text("SELECT 1"))
        count_on_commit(session, counter)
        raise RuntimeError("rolled back")


async def test_a_count_waits_for_the_commit(database: Database) -> None:
    metrics = Metrics()
    counter = metrics.checkins_completed
    with pytest.raises(RuntimeError, match="rolled back"):
        await count_then_roll_back(database, counter)
    assert sample(metrics, "checkin_checkins_completed_total") == 0
    async with database.transaction() as session:
        count_on_commit(session, counter)
        count_on_commit(session, counter, 2)
        assert sample(metrics, "checkin_checkins_completed_total") == 0
    assert sample(metrics, "checkin_checkins_completed_total") == 3


# ---- the server ---------------------------------------------------------------------------------------------


async def get(server: ObservabilityServer, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        return response.status, await response.text()


@pytest.fixture
async def scheduler(runtime: Bot, clock: ManualClock) -> AsyncIterator[Scheduler]:
    built = Scheduler(runtime.dispatcher(grace=timedelta(hours=6)))
    yield built
    await built.stop()


@pytest.fixture
async def server(runtime: Bot, scheduler: Scheduler) -> AsyncIterator[ObservabilityServer]:
    built = ObservabilityServer(
        runtime.database, runtime.metrics, lambda: scheduler.running, listen="127.0.0.1", port=0, refresh=0
    )
    await built.start()
    yield built
    await built.stop()


async def test_healthz_is_ok_only_while_the_scheduler_runs(server: ObservabilityServer, scheduler: Scheduler) -> None:
    status, body = await get(server, "/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "problems": ["scheduler not running"]}
    await scheduler.start()
    assert await get(server, "/healthz") == (200, "ok")
    await scheduler.stop()
    assert (await get(server, "/healthz"))[0] == 503


async def test_healthz_fails_and_metrics_leave_out_the_depth_when_the_database_is_gone(
    server: ObservabilityServer, scheduler: Scheduler, runtime: Bot
) -> None:
    await scheduler.start()
    assert await get(server, "/healthz") == (200, "ok")
    await runtime.database.stop()
    status, body = await get(server, "/healthz")
    assert status == 503
    assert json.loads(body)["problems"] == ["database not answering (RuntimeError)"]
    status, body = await get(server, "/metrics")
    assert status == 200
    assert "checkin_checkins_sent_total 0.0" in body
    assert "checkin_outbox_depth" not in body
    await runtime.database.start()
    assert await get(server, "/healthz") == (200, "ok")


async def test_metrics_show_counters_and_the_outbox_depth(
    server: ObservabilityServer, runtime: Bot, slack: CollectingAdapter
) -> None:
    assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
    status, body = await get(server, "/metrics")
    assert status == 200
    lines = body.splitlines()
    assert "checkin_checkins_sent_total 1.0" in lines
    assert "checkin_outbox_depth 3.0" in lines  # privacy notice, greeting, first question
    assert 'checkin_alerts_total{severity="urgent"} 0.0' in lines
    assert "# TYPE checkin_outbox_depth gauge" in lines
    await runtime.outbox.drain()
    assert len(slack.sent) == 3
    assert "checkin_outbox_depth 0.0" in (await get(server, "/metrics"))[1].splitlines()


async def test_a_port_in_use_is_named(runtime: Bot, server: ObservabilityServer) -> None:
    second = ObservabilityServer(runtime.database, runtime.metrics, lambda: True, listen="127.0.0.1", port=server.port)
    with pytest.raises(ListenError, match=rf"observability.http: cannot listen on 127.0.0.1:{server.port}: "):
        await second.start()


# ---- an unreachable PostgreSQL ------------------------------------------------------------------------------


class Relay:
    """A TCP relay on 127.0.0.1 to the test PostgreSQL; closing it cuts every connection and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@pytest.mark.postgres
async def test_healthz_fails_when_postgresql_stops_answering(tmp_path: Path) -> None:
    async with isolated_target("postgresql", tmp_path) as target:
        real = make_url(target.url)
        relay = Relay(real.host or "127.0.0.1", real.port or 5432)
        relayed = real.set(host="127.0.0.1", port=await relay.start()).render_as_string(hide_password=False)
        await unreachable_postgresql_fails_health(Database(relayed, schema=target.schema), relay)


async def unreachable_postgresql_fails_health(database: Database, relay: Relay) -> None:
    await database.start()
    server = ObservabilityServer(database, Metrics(), lambda: True, listen="127.0.0.1", port=0, refresh=0)
    await server.start()
    try:
        assert await get(server, "/healthz") == (200, "ok")
        assert "checkin_outbox_depth " in (await get(server, "/metrics"))[1]
        await relay.close()
        status, body = await get(server, "/healthz")
        assert status == 503
        [problem] = json.loads(body)["problems"]
        assert problem.startswith("database not answering (")
        assert "checkin_outbox_depth" not in (await get(server, "/metrics"))[1]
    finally:
        await server.stop()
        await database.stop()
