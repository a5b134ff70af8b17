"""The outbox outlasts outages: retries by elapsed time, leases that hold, deliveries never forgotten.

Time is a ManualClock, as in test_outbox.py, except where a send must really be in flight (the lease test).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app.builder import Bot
from bot.coaching.status import client_statuses
from bot.delivery.outbox import OutboxWorker
from bot.store import Database
from bot.store.models import CheckIn, Client
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget, fresh_postgres_database
from tests.fakes import runtime_for
from tests.fakes.fake_platform import FakePlatform
from tests.fakes.http_adapter import HttpAdapter
from tests.fakes.tcp_proxy import TcpProxy
from tests.test_outbox import PLATFORM, START, rows, seed, virtual_sleep


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def platform(clock: ManualClock) -> AsyncIterator[FakePlatform]:
    async with FakePlatform(now=lambda: clock.now().timestamp()) as fake:
        yield fake


@pytest.fixture
async def adapter(platform: FakePlatform) -> AsyncIterator[HttpAdapter]:
    async with HttpAdapter(PLATFORM, platform.url, timeout=10) as http:
        yield http


def worker(database: Database, adapter: HttpAdapter, clock: ManualClock, **options: object) -> OutboxWorker:
    return OutboxWorker(
        database,
        {adapter.name: adapter},
        clock,
        worker_id=str(options.pop("worker_id", "w1")),
        sleep=virtual_sleep(clock),
        **options,  # type: ignore[arg-type]
    )


async def settle(outbox: OutboxWorker, database: Database, clock: ManualClock, step: timedelta) -> None:
    """Drain and let ``step`` pass until no row is waiting to be sent."""
    for _ in range(500):
        await outbox.drain()
        if all(row.status in ("sent", "failed", "cancelled") for row in (await rows(database)).values()):
            return
        clock.advance(step)
    raise AssertionError("the outbox did not settle")


@contextlib.asynccontextmanager
async def behind_a_proxy(purpose: str) -> AsyncIterator[tuple[Database, TcpProxy]]:
    """A fresh PostgreSQL database reached through a proxy the test cuts: a real outage, nothing patched."""
    async with fresh_postgres_database(purpose) as url:
        target = make_url(url)
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            database = Database(target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
            await database.start()
            try:
                yield database, proxy
            finally:
                await database.stop()


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(5.0):
        while not await check():  # noqa: ASYNC110 - the condition is in the database
            await asyncio.sleep(0.02)


async def test_a_long_5xx_outage_delays_messages_but_gives_none_up(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    notice, greeting, question, other = await seed(
        database, clock, [("alice", "notice"), ("alice", "greeting"), ("alice", "question"), ("bob", "hello")]
    )
    platform.fail_next(502, 30, recipient="alice")

    await settle(worker(database, adapter, clock), database, clock, timedelta(minutes=30))

    assert {row.status for row in (await rows(database)).values()} == {"sent"}
    assert [d.outbox_id for d in platform.delivered_to("alice")] == [notice, greeting, question]
    assert [d.outbox_id for d in platform.delivered_to("bob")] == [other]


async def test_retry_after_is_honoured_without_counting_as_an_attempt(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    [row_id] = await seed(database, clock, [("alice", "hello")])
    platform.fail_next(429, 20, recipient="alice", retry_after=5)

    await settle(worker(database, adapter, clock), database, clock, timedelta(seconds=5))

    row = (await rows(database))[row_id]
    assert (row.status, row.attempts) == ("sent", 1)
    assert [r.status for r in platform.requests_to("alice")] == [429] * 20 + [200]


async def test_a_message_past_the_horizon_is_given_up_with_those_queued_behind_it(
    database: Database,
    platform: FakePlatform,
    adapter: HttpAdapter,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    notice, greeting, question, other = await seed(
        database, clock, [("alice", "notice"), ("alice", "greeting"), ("alice", "question"), ("bob", "hello")]
    )
    platform.fail_next(502, 10_000, recipient="alice")
    outbox = worker(database, adapter, clock, give_up_after=timedelta(hours=2))

    with caplog.at_level(logging.ERROR, logger="bot.delivery.outbox"):
        await settle(outbox, database, clock, timedelta(minutes=10))

    assert clock.now() >= START + timedelta(hours=2)
    settled = await rows(database)
    assert [settled[i].status for i in (notice, greeting, question, other)] == ["failed"] * 3 + ["sent"]
    assert platform.delivered_to("alice") == []
    assert {r.outbox_id for r in platform.requests_to("alice")} == {notice}  # nothing overtook the notice
    assert f"row {greeting}" in caplog.text and f"row {question}" in caplog.text
    assert "gave up" in caplog.text


@pytest.mark.integration
@pytest.mark.postgres
async def test_a_delivery_the_database_failed_to_record_is_recorded_later_and_not_sent_again(
    platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    async with behind_a_proxy("the outbox outage test") as (database, proxy):
        [row_id] = await seed(database, clock, [("alice", "hello")])
        platform.stall_next(seconds=1.0)  # delivered at once, answered a second later
        outbox = worker(database, adapter, clock)
        sending = asyncio.create_task(outbox.drain())
        await eventually(lambda: asyncio.sleep(0, bool(platform.deliveries)))
        proxy.cut()  # the database goes away while the platform is still answering
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises for a lost server
            await sending
        proxy.restore()

        for _ in range(5):  # the first pass may meet a pooled connection the cut killed
            with contextlib.suppress(Exception):
                await outbox.drain()
                break
        assert (await rows(database))[row_id].status == "sent"
        clock.advance(timedelta(minutes=5))
        await outbox.drain()
        assert [d.outbox_id for d in platform.deliveries] == [row_id]  # recorded, never sent again


async def test_a_lease_is_renewed_while_a_send_is_in_flight(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    [row_id] = await seed(database, clock, [("alice", "hello")])
    platform.stall_next(seconds=2.0)  # delivered at once, answered two seconds later
    first = worker(database, adapter, clock, lease=timedelta(seconds=60), renew_every=0.05)
    second = worker(database, adapter, clock, worker_id="w2", lease=timedelta(seconds=60))

    sending = asyncio.create_task(first.drain())
    await eventually(lambda: asyncio.sleep(0, bool(platform.deliveries)))
    clock.advance(timedelta(seconds=61))  # the send outlasts the lease it was claimed with

    async def renewed() -> bool:
        row = (await rows(database))[row_id]
        return row.status == "sending" and row.lease_until is not None and row.lease_until > clock.now()

    await eventually(renewed)
    assert await second.drain() == 0
    assert await sending == 1
    assert (await rows(database))[row_id].status == "sent"
    assert [d.outbox_id for d in platform.deliveries] == [row_id]


CONFIG = """
outbox: {give_up_after: 1h}
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: UMAYA}}
clients:
  - {id: dana, name: Dana Whitfield, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {user_id: UDANA}}
"""
SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
async def slack(platform: FakePlatform) -> AsyncIterator[HttpAdapter]:
    async with HttpAdapter("slack", platform.url, timeout=10) as http:
        yield http


async def client_and_checkins(database: Database) -> tuple[Client, list[CheckIn]]:
    async with database.session() as session:
        dana = await session.get(Client, "dana")
        assert dana is not None
        return dana, list((await session.scalars(select(CheckIn).order_by(CheckIn.id))).all())


async def started_runtime(
    database_target: DatabaseTarget, tmp_path: Path, slack: HttpAdapter, clock: ManualClock
) -> Bot:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    return runtime


async def test_an_opening_given_up_marks_the_checkin_and_leaves_the_privacy_notice_owed(
    database_target: DatabaseTarget,
    tmp_path: Path,
    platform: FakePlatform,
    slack: HttpAdapter,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = await started_runtime(database_target, tmp_path, slack, clock)
    try:
        clock.set(SLOT)
        platform.fail_next(502, 10_000, recipient="UDANA")
        assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
        with caplog.at_level(logging.ERROR, logger="bot.delivery.outbox"):
            await settle(runtime.outbox, runtime.database, clock, timedelta(minutes=10))
        dana, [checkin] = await client_and_checkins(runtime.database)
        assert dana.privacy_notice_sent_at is None  # never sent, so still owed
        assert checkin.undelivered_at is not None and "Internal Server Error" in (checkin.undelivered_reason or "")
        assert platform.delivered_to("UDANA") == []
        assert f"check-in {checkin.id}" in caplog.text
        async with runtime.database.session() as session:
            [row] = await client_statuses(session, {}, clock.now())
        assert row.last_checkin_status == "failed"  # `checkin status` and the coach's `clients` say "not delivered"
    finally:
        await runtime.stop()


async def test_the_privacy_notice_is_recorded_once_sent_not_when_queued(
    database_target: DatabaseTarget, tmp_path: Path, platform: FakePlatform, slack: HttpAdapter, clock: ManualClock
) -> None:
    runtime = await started_runtime(database_target, tmp_path, slack, clock)
    try:
        clock.set(SLOT)
        assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
        dana, _ = await client_and_checkins(runtime.database)
        assert dana.privacy_notice_sent_at is None  # queued, not sent yet
        await settle(runtime.outbox, runtime.database, clock, timedelta(minutes=1))
        dana, [checkin] = await client_and_checkins(runtime.database)
        assert dana.privacy_notice_sent_at == SLOT
        assert checkin.undelivered_at is None
        opening = [d.text for d in platform.delivered_to("UDANA")]
        assert len(opening) == 3  # the notice, the greeting, the first question

        slot = SLOT + timedelta(weeks=1)
        clock.set(slot)
        assert await runtime.lifecycle.start_checkin("dana", slot) is not None
        await settle(runtime.outbox, runtime.database, clock, timedelta(minutes=1))
        again = [d.text for d in platform.delivered_to("UDANA")][len(opening) :]
        assert opening[0] not in again and len(again) == 2  # no notice the second time
    finally:
        await runtime.stop()


async def test_the_coach_is_told_in_chat_when_messages_to_their_client_are_given_up(
    database_target: DatabaseTarget, tmp_path: Path, platform: FakePlatform, slack: HttpAdapter, clock: ManualClock
) -> None:
    runtime = await started_runtime(database_target, tmp_path, slack, clock)
    try:
        clock.set(SLOT)
        platform.fail_next(502, 10_000, recipient="UDANA")
        assert await runtime.lifecycle.start_checkin("dana", SLOT) is not None
        await settle(runtime.outbox, runtime.database, clock, timedelta(minutes=10))
        [told] = [d.text for d in platform.delivered_to("UMAYA")]
        assert "Dana Whitfield" in told and "3 messages" in told and "undelivered" in told
        # Another pass, a restart or a second replica settles nothing more: the coach is told once.
        clock.advance(timedelta(hours=2))
        await settle(runtime.outbox, runtime.database, clock, timedelta(minutes=10))
        assert len(platform.delivered_to("UMAYA")) == 1
    finally:
        await runtime.stop()


@pytest.mark.integration
@pytest.mark.postgres
async def test_an_outage_is_logged_once_without_tracebacks_and_its_end_once(
    platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Every pass during the outage fails; an operator reading the log needs the outage and its end, not a
    # traceback a pass (a 25-second outage wrote 31 of them).
    async with behind_a_proxy("the outbox outage log test") as (database, proxy):
        outbox = worker(database, adapter, clock, poll_interval=0.02)
        try:
            await outbox.start()
            proxy.cut()
            with caplog.at_level(logging.WARNING, logger="bot.delivery.outbox"):
                await asyncio.sleep(0.5)  # a pass every 20 ms, each failing
                [row_id] = await _seed_when_back(proxy, database, clock)
                await eventually(lambda: asyncio.sleep(0, bool(platform.deliveries)))
        finally:
            await outbox.stop()
    assert [d.outbox_id for d in platform.deliveries] == [row_id]
    told = [record for record in caplog.records if record.name == "bot.delivery.outbox"]
    assert len(told) == 2, [record.getMessage() for record in told]
    assert told[0].getMessage().startswith("outbox worker: the database cannot be reached (")
    assert told[0].getMessage().endswith("; retrying after the poll interval until it answers")
    assert told[1].getMessage().startswith("outbox worker: the database answers again after")
    assert int(told[1].getMessage().split("(")[1].split()[0]) > 5, "passes kept failing during the outage"
    assert not any(record.exc_info for record in told)


async def _seed_when_back(proxy: TcpProxy, database: Database, clock: ManualClock) -> list[int]:
    proxy.restore()
    for _ in range(20):  # a pooled connection the cut killed may fail the first try
        with contextlib.suppress(Exception):
            return await seed(database, clock, [("alice", "hello")])
    raise AssertionError("the database did not come back")
