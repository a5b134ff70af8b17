"""Keys that never destroy messages (issue 15, item 3).

A wrong but well-formed ``CHECKIN_ENCRYPTION_KEY`` used to start without complaint; now the bot opens a sample
of the sealed values stored and refuses to run, in one line, when its keys do not open them. A row sealed under
a key this replica lacks (another replica already seals with a new key) stays pending for a replica that holds
the key, and is reported, instead of being marked failed for good.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.contract.messages import OutboundMessage
from bot.store import Database, outbox
from bot.store.keycheck import KeyMismatchError
from bot.store.models import OutboxMessage
from bot.store.sealing import KEY_ENV, Sealer
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG, MAYA
from tests.test_cli_run import checkin_process, write_config

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
NOTE = "zebra note: the sessions feel rushed"


def sealer(keys: str) -> Sealer:
    return Sealer.from_environment({KEY_ENV: keys})


def row(words: str, key: str) -> outbox.OutboxRow:
    return outbox.OutboxRow("slack", MAYA, OutboundMessage("slack", MAYA, words, audience="coach").to_payload(), key)


async def queue_sealed(database: Database, *keys: str) -> None:
    await database.start()
    async with database.transaction() as session:
        await outbox.enqueue(session, [row(NOTE, key) for key in keys], T0)
    await database.stop()


async def stored(database: Database, key: str) -> OutboxMessage:
    async with database.session() as session:
        return (await session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))).one()


async def test_a_row_sealed_under_a_key_this_replica_lacks_stays_pending_and_is_reported(
    database_target: DatabaseTarget, caplog: pytest.LogCaptureFixture
) -> None:
    await queue_sealed(database_target.create(sealer(NEW)), "new-key")  # a replica already sealing with NEW
    behind = database_target.create(sealer(OLD))  # a replica that was never given NEW
    await behind.start()
    async with behind.transaction() as session:
        with caplog.at_level(logging.WARNING):
            assert await outbox.due_outbox(session, T0, 10, "behind", LEASE) == []
    left = await stored(behind, "new-key")
    assert (left.status, left.attempts) == ("pending", 0)
    assert left.last_error == outbox.UNREADABLE_HERE
    assert left.next_attempt_at > T0
    reported = [r for r in caplog.records if r.levelno >= logging.ERROR and f"outbox row {left.id}" in r.getMessage()]
    assert reported and all("zebra" not in r.getMessage() for r in caplog.records)
    await behind.stop()
    holder = database_target.create(sealer(f"{NEW},{OLD}"))  # a replica holding the key sends it
    await holder.start()
    async with holder.transaction() as session:
        [leased] = await outbox.due_outbox(session, T0 + outbox.UNREADABLE_RETRY, 10, "holder", LEASE)
    assert leased.payload["text"] == NOTE
    await holder.stop()


async def test_a_row_nobody_can_open_fails_once_the_outbox_would_give_up_so_the_queue_moves(
    database_target: DatabaseTarget,
) -> None:
    await queue_sealed(database_target.create(sealer(NEW)), "lost")
    reader = database_target.create(sealer(OLD))
    await reader.start()
    async with reader.transaction() as session:
        await outbox.enqueue(session, [row("after", "after")], T0)
    later = T0 + outbox.GIVE_UP_ON_UNREADABLE_AFTER
    async with reader.transaction() as session:
        leased = await outbox.due_outbox(session, later, 10, "w", LEASE)
    assert [r.idempotency_key for r in leased] == ["after"]
    lost = await stored(reader, "lost")
    assert (lost.status, lost.last_error) == ("failed", outbox.UNREADABLE)
    await reader.stop()


async def test_the_bot_refuses_to_start_when_its_key_opens_none_of_the_stored_values(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock
) -> None:
    await queue_sealed(database_target.create(sealer(OLD)), "a", "b")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    wrong = runtime_for(path, database_target.create(sealer(NEW)), clock, {"slack": CollectingAdapter("slack")})
    with pytest.raises(KeyMismatchError) as refused:
        await wrong.start()
    assert KEY_ENV in str(refused.value) and NEW not in str(refused.value)
    unset = runtime_for(path, database_target.create(Sealer()), clock, {"slack": CollectingAdapter("slack")})
    with pytest.raises(KeyMismatchError):
        await unset.start()
    right = runtime_for(
        path, database_target.create(sealer(f"{NEW},{OLD}")), clock, {"slack": CollectingAdapter("slack")}
    )
    await right.start()
    await right.stop()


@pytest.mark.process
async def test_run_with_a_wrong_key_exits_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"
    await queue_sealed(Database(url, sealer=sealer(OLD)), "a")
    config = write_config(tmp_path, url)
    result = checkin_process("run", "--console", "--config", str(config), env={KEY_ENV: NEW})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"checkin: {KEY_ENV} does not open 1 of 1 encrypted values") and NEW not in line
