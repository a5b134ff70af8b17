"""The outbox worker against a fake platform over real HTTP, on both databases.

Most tests drive time with a ManualClock: the worker's rate-limit waits advance it (``virtual_sleep``) and
the fake platform judges rates by it, so a minute of retries takes milliseconds and every assertion about
"not before" is exact. One test runs in real time to show the concurrent sends.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.contract.messages import OutboundMessage
from bot.delivery.outbox import OutboxWorker, Sleep
from bot.delivery.ratelimit import RateLimits
from bot.store import Database, outbox
from bot.store.models import OutboxMessage
from bot.timing.clock import ManualClock, SystemClock
from tests.fakes.fake_platform import FakePlatform, Rate
from tests.fakes.http_adapter import HttpAdapter

pytestmark = pytest.mark.integration

PLATFORM = "fake"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: Short, so an ambiguous send costs the test a fraction of a second.
CLIENT_TIMEOUT = 0.3


def virtual_sleep(clock: ManualClock) -> Sleep:
    """Waiting in ManualClock time: the clock jumps to the end of the wait (rounded up, never short of it)."""

    async def sleep(seconds: float) -> None:
        target = clock.now() + timedelta(microseconds=math.ceil(seconds * 1_000_000))
        await asyncio.sleep(0)
        if clock.now() < target:
            clock.set(target)

    return sleep


@pytest.fixture
async def platform(clock: ManualClock) -> AsyncIterator[FakePlatform]:
    async with FakePlatform(now=lambda: clock.now().timestamp()) as fake:
        yield fake


@pytest.fixture
async def adapter(platform: FakePlatform) -> AsyncIterator[HttpAdapter]:
    async with HttpAdapter(PLATFORM, platform.url, timeout=CLIENT_TIMEOUT) as http:
        yield http


def worker(
    database: Database, adapter: HttpAdapter, clock: ManualClock, worker_id: str = "w1", **options: object
) -> OutboxWorker:
    return OutboxWorker(
        database,
        {PLATFORM: adapter},
        clock,
        worker_id=worker_id,
        sleep=virtual_sleep(clock),
        **options,  # type: ignore[arg-type]
    )


async def seed(database: Database, clock: ManualClock | SystemClock, messages: Iterable[tuple[str, str]]) -> list[int]:
    """Queue ``(recipient, text)`` pairs in this order; return their outbox ids, which follow that order."""
    queued = [
        outbox.OutboxRow(PLATFORM, recipient, OutboundMessage(PLATFORM, recipient, text).to_payload(), f"seed-{n}")
        for n, (recipient, text) in enumerate(messages)
    ]
    async with database.transaction() as session:
        assert await outbox.enqueue(session, queued, clock.now()) == len(queued)
    return sorted(await rows(database))


def each(recipients: Iterable[str], count: int) -> list[tuple[str, str]]:
    """``count`` messages to each recipient, one recipient after the other."""
    return [(recipient, f"{recipient} #{n}") for recipient in recipients for n in range(count)]


async def rows(database: Database) -> dict[int, OutboxMessage]:
    async with database.session() as session:
        return {row.id: row for row in (await session.scalars(select(OutboxMessage))).all()}


async def drain_until_settled(outbox: OutboxWorker, database: Database, clock: ManualClock) -> None:
    """Drain, let a minute pass, repeat: enough for any backoff of the first few attempts."""
    for _ in range(30):
        await outbox.drain()
        if all(row.status in ("sent", "failed") for row in (await rows(database)).values()):
            return
        clock.advance(timedelta(minutes=1))
    raise AssertionError("the outbox did not settle")


async def test_every_message_survives_429s_500s_and_timeouts_once_and_in_order(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    recipients = ["alice", "bob", "carol", "dan"]
    ids = await seed(database, clock, each(recipients, 3))
    platform.fail_next(500, 3)
    platform.fail_next(429, 2, retry_after=5)
    platform.fail_next(429, recipient="dan", retry_after=20, scope="global")
    platform.stall_next(recipient="carol")

    await drain_until_settled(worker(database, adapter, clock), database, clock)

    assert {row.status for row in (await rows(database)).values()} == {"sent"}
    assert platform.statuses[429] == 3
    assert platform.statuses[500] == 3
    for n, recipient in enumerate(recipients):
        expected = ids[3 * n : 3 * n + 3]
        if recipient == "carol":  # the at-least-once contract: a send that timed out may arrive twice
            expected = [expected[0], *expected]
        assert [d.outbox_id for d in platform.delivered_to(recipient)] == expected


async def test_a_timeout_after_the_platform_accepted_is_retried_and_arrives_twice(
    database: Database,
    platform: FakePlatform,
    adapter: HttpAdapter,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At-least-once: neither Slack nor Telegram takes an idempotency key, so the retry delivers again."""
    [row_id] = await seed(database, clock, [("alice", "How was the week?")])
    platform.stall_next()
    outbox = worker(database, adapter, clock)

    with caplog.at_level(logging.WARNING, logger="bot.delivery.outbox"):
        assert await outbox.drain() == 1
    assert len(platform.deliveries) == 1  # accepted, though the worker never heard so
    assert (await rows(database))[row_id].status == "pending"
    assert "may have been delivered" in caplog.text

    clock.advance(timedelta(minutes=1))
    assert await outbox.drain() == 1
    assert [d.outbox_id for d in platform.deliveries] == [row_id, row_id]
    assert (await rows(database))[row_id].status == "sent"


async def test_a_crash_between_send_and_mark_sent_resends_after_the_lease(
    database: Database,
    platform: FakePlatform,
    adapter: HttpAdapter,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [row_id] = await seed(database, clock, [("alice", "How was the week?")])
    reached = asyncio.Event()

    async def crash_before_recording(*args: object, **kwargs: object) -> bool:
        reached.set()
        await asyncio.Event().wait()  # never returns: the worker dies here
        raise AssertionError("unreachable")

    monkeypatch.setattr(outbox, "mark_sent", crash_before_recording)
    first = worker(database, adapter, clock, "first", lease=timedelta(seconds=60))
    await first.start()
    await asyncio.wait_for(reached.wait(), timeout=10)
    await first.stop()
    monkeypatch.undo()
    assert len(platform.deliveries) == 1
    assert (await rows(database))[row_id].status == "sending"

    second = worker(database, adapter, clock, "second")
    assert await second.drain() == 0  # the dead worker's lease still holds the row
    clock.advance(timedelta(seconds=61))
    assert await second.drain() == 1
    assert [d.outbox_id for d in platform.deliveries] == [row_id, row_id]
    assert (await rows(database))[row_id].status == "sent"


async def test_a_lease_failing_in_the_recording_transaction_keeps_the_deliveries_for_the_next(
    database: Database,
    platform: FakePlatform,
    adapter: HttpAdapter,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording and the next lease share a transaction: when the lease fails, the recording is rolled back
    with it, and the worker records those deliveries next time instead of sending them again."""
    ids = await seed(database, clock, [("alice", "1"), ("bob", "2"), ("carol", "3")])
    lease = outbox.due_outbox
    leases = itertools.count()

    async def second_lease_fails(*args: object, **kwargs: object) -> list[OutboxMessage]:
        if next(leases) == 1:
            raise RuntimeError("the database went away")
        return await lease(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "due_outbox", second_lease_fails)
    sender = worker(database, adapter, clock)
    with pytest.raises(RuntimeError, match="went away"):
        await sender.drain()
    assert {row.status for row in (await rows(database)).values()} == {"sending"}  # rolled back

    assert await sender.drain() == 0
    assert sorted(d.outbox_id for d in platform.deliveries) == ids  # each once
    assert {row.status for row in (await rows(database)).values()} == {"sent"}


async def test_retry_after_is_honoured(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    first, second, other = await seed(database, clock, [("alice", "1"), ("alice", "2"), ("bob", "3")])
    platform.fail_next(429, recipient="alice", retry_after=30)
    outbox = worker(database, adapter, clock)

    assert await outbox.drain() == 2
    assert [d.outbox_id for d in platform.deliveries] == [other]  # bob is not held up by alice's 429
    assert (await rows(database))[first].next_attempt_at >= START + timedelta(seconds=30)

    clock.advance(timedelta(seconds=29))
    assert await outbox.drain() == 0
    assert len(platform.requests_to("alice")) == 1
    clock.advance(timedelta(seconds=2))
    assert await outbox.drain() == 2
    assert [d.outbox_id for d in platform.delivered_to("alice")] == [first, second]
    assert platform.requests_to("alice")[1].at - platform.requests_to("alice")[0].at >= 30


async def test_a_platform_wide_429_pauses_every_recipient(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    alice, bob = await seed(database, clock, [("alice", "1"), ("bob", "2")])
    platform.fail_next(429, recipient="alice", retry_after=10, scope="global")
    outbox = worker(database, adapter, clock, concurrency=1)

    # Bob waits out the pause (the clock moves with the wait), and by then Alice's retry is due as well.
    assert await outbox.drain() == 3
    first, *rest = platform.requests
    assert (first.recipient, first.status, first.at) == ("alice", 429, START.timestamp())
    assert [(r.outbox_id, r.status) for r in rest] == [(bob, 200), (alice, 200)]
    assert min(r.at for r in rest) >= START.timestamp() + 10


async def test_a_long_pause_returns_rows_to_the_table_instead_of_sitting_on_their_lease(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    alice, bob = await seed(database, clock, [("alice", "1"), ("bob", "2")])
    platform.fail_next(429, recipient="alice", retry_after=600, scope="global")
    outbox = worker(database, adapter, clock, concurrency=1, lease=timedelta(seconds=60))

    assert await outbox.drain() == 2
    assert platform.requests_to("bob") == []
    waiting = await rows(database)
    assert {waiting[alice].status, waiting[bob].status} == {"pending"}
    assert waiting[bob].next_attempt_at >= START + timedelta(seconds=600)
    assert clock.now() == START  # nobody slept through the pause

    clock.advance(timedelta(seconds=601))
    assert await outbox.drain() == 2
    assert {d.outbox_id for d in platform.deliveries} == {alice, bob}


async def test_a_blocked_user_is_not_retried_and_reported_once(
    database: Database, platform: FakePlatform, adapter: HttpAdapter, clock: ManualClock
) -> None:
    alice, *bobs = await seed(database, clock, [("alice", "1"), ("bob", "2"), ("bob", "3")])
    platform.block("alice")
    reports: list[tuple[OutboundMessage, str]] = []

    async def report(message: OutboundMessage, reason: str) -> None:
        reports.append((message, reason))

    outbox = worker(database, adapter, clock, on_permanent_failure=report)
    assert await outbox.drain() == 3
    clock.advance(timedelta(hours=1))
    assert await outbox.drain() == 0

    [(message, reason)] = reports
    assert (message.outbox_id, message.recipient) == (alice, "alice")
    assert "blocked" in reason
    assert len(platform.requests_to("alice")) == 1
    failed = (await rows(database))[alice]
    assert (failed.status, failed.last_error) == ("failed", reason)
    assert [d.outbox_id for d in platform.delivered_to("bob")] == bobs


async def test_the_limiter_keeps_a_rate_limiting_platform_from_ever_saying_429(
    database: Database, clock: ManualClock
) -> None:
    limits = RateLimits(global_per_second=2, global_burst=1, per_recipient_per_second=1, per_recipient_burst=1)
    fake = FakePlatform(
        global_rate=Rate(2), per_recipient_rate=Rate(1), now=lambda: clock.now().timestamp(), jitter=0.001
    )
    async with fake, HttpAdapter(PLATFORM, fake.url) as http:
        ids = await seed(database, clock, each(["alice", "bob", "carol"], 3))
        outbox = worker(database, http, clock, rate_limits={PLATFORM: limits}, concurrency=1)
        assert await outbox.drain() == 9

    assert dict(fake.statuses) == {200: 9}
    assert [d.outbox_id for d in fake.deliveries] == ids
    arrivals = [d.at for d in fake.deliveries]
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.5
    for recipient in ("alice", "bob", "carol"):
        times = [d.at for d in fake.delivered_to(recipient)]
        assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0


async def test_recipients_are_served_concurrently_within_the_limits_in_real_time(database: Database) -> None:
    clock = SystemClock()
    fake = FakePlatform(global_rate=Rate(20), per_recipient_rate=Rate(1), latency=0.1)
    recipients = [f"user-{n}" for n in range(10)]
    async with fake, HttpAdapter(PLATFORM, fake.url) as http, asyncio.timeout(30):
        ids = await seed(database, clock, each(recipients, 2))
        limits = {PLATFORM: RateLimits(20, 1, 1, 1)}
        outbox = OutboxWorker(database, {PLATFORM: http}, clock, worker_id="w1", rate_limits=limits, concurrency=16)
        assert await outbox.drain() == 20

    assert dict(fake.statuses) == {200: 20}
    assert fake.max_in_flight > 1
    for n, recipient in enumerate(recipients):
        assert [d.outbox_id for d in fake.delivered_to(recipient)] == ids[2 * n : 2 * n + 2]
