"""Free text encrypted at rest (DESIGN §7): the sealer, the store on both databases, key rotation and `rekey`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.contract.messages import OutboundMessage
from bot.store import Database, alerts, answers, checkins, outbox, people, waiting
from bot.store.checkins import Claim
from bot.store.history import client_history
from bot.store.models import CheckIn
from bot.store.people import ClientRecord, CoachRecord
from bot.store.rekey import FieldReport, rekey
from bot.store.sealing import KEY_ENV, PLAIN, Sealer, SealingKeyError, UnreadableSealError
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import CONFIG as RUNTIME_CONFIG
from tests.support.practice import MAYA, SLOT
from tests.test_cli_run import checkin_process as checkin
from tests.test_cli_run import write_config
from tests.test_log_privacy import raw_values
from tests.test_runtime import say

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
NOTE = "zebra note: the sessions feel rushed"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COACH = CoachRecord(id="maya", name="Maya Chen", timezone="UTC", digest="weekly", slack_user_id="U0MAYA0001")
DANA = ClientRecord(
    id="dana",
    name="Dana Whitfield",
    coach_id="maya",
    timezone="UTC",
    cadence="weekly",
    question_set="default",
    language="en",
    platform="slack",
    slack_user_id="U0DANA0001",
)


def sealer(keys: str) -> Sealer:
    return Sealer.from_environment({KEY_ENV: keys})


# ---- the sealer alone -----------------------------------------------------------------------------------


def test_sealed_text_is_marked_unreadable_and_opens_again() -> None:
    a = sealer(KEY_A)
    stored = a.seal(NOTE)
    assert stored.startswith("fernet:")
    assert "zebra" not in stored
    assert a.open(stored) == NOTE
    assert a.seal(NOTE) != stored  # a fresh IV each time: equal answers do not look equal at rest


def test_without_a_key_text_is_stored_as_written() -> None:
    assert not PLAIN.enabled
    assert PLAIN.seal(NOTE) == NOTE
    assert PLAIN.open(NOTE) == NOTE
    assert Sealer.from_environment({}).seal(NOTE) == NOTE
    assert Sealer.from_environment({KEY_ENV: "  "}).seal(NOTE) == NOTE


@pytest.mark.parametrize("written", ["fernet:not a token", "plain:looks escaped", "plain:plain:twice"])
def test_plain_text_that_looks_like_a_marker_survives_either_way(written: str) -> None:
    for writer in (PLAIN, sealer(KEY_A)):
        stored = writer.seal(written)
        assert sealer(KEY_A).open(stored) == written
        if writer is PLAIN:
            assert PLAIN.open(stored) == written


def test_a_malformed_key_is_named_and_never_echoed() -> None:
    with pytest.raises(SealingKeyError) as raised:
        sealer(f"{KEY_B},not-a-key-zebra")
    message = str(raised.value)
    assert KEY_ENV in message and "key 2 of 2" in message
    assert "zebra" not in message and KEY_B not in message
    with pytest.raises(SealingKeyError, match="empty key"):
        sealer(f"{KEY_B},,{KEY_A}")


def test_a_value_sealed_with_an_unknown_key_is_a_clear_error() -> None:
    stored = sealer(KEY_A).seal(NOTE)
    for reader in (sealer(KEY_B), PLAIN):
        with pytest.raises(UnreadableSealError, match=f"sealed with a key that {KEY_ENV} does not hold"):
            reader.open(stored)
    with pytest.raises(UnreadableSealError):
        sealer(KEY_A).open(stored[:-4] + "AAAA")  # altered at rest


def test_the_first_key_seals_and_every_key_opens() -> None:
    old = sealer(KEY_A).seal(NOTE)
    both = sealer(f"{KEY_B},{KEY_A}")
    assert both.open(old) == NOTE
    assert sealer(KEY_B).open(both.seal(NOTE)) == NOTE
    resealed = both.reseal(old)
    assert resealed is not None and sealer(KEY_B).open(resealed) == NOTE
    assert both.reseal(resealed) is None  # already under the first key
    plain = both.reseal(NOTE)
    assert plain is not None and sealer(KEY_B).open(plain) == NOTE
    assert PLAIN.reseal(old) is None


# ---- the store, on both databases -----------------------------------------------------------------------


async def seed_checkin(database: Database, note: str, *, week: int = 0, status: str = "completed") -> int:
    """A finished check-in of Dana's with one scale answer and ``note`` as free text."""
    slot = T0 + timedelta(weeks=week)
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA], slot)
        won = await checkins.claim_checkins(session, [Claim("dana", slot, "default", {"v": 1})], slot)
        checkin_id = won["dana"]
        await answers.upsert_answer(session, checkin_id, "trust", "trust", "trust", None, 4, None, slot)
        answer = await answers.upsert_answer(session, checkin_id, "note", "note", "note", None, None, note, slot)
        assert answer.text == note  # the caller sees what it wrote
        checkin = await session.get(CheckIn, checkin_id)
        assert checkin is not None
        checkin.status = status  # type: ignore[assignment]
        checkin.completed_at = slot
    return checkin_id


async def raw(database: Database, sql: str) -> list[str]:
    """Column values as the database holds them, as text: what someone with a copy of it would read."""
    async with database.session() as session:
        return [str(value) for value in (await session.execute(text(sql))).scalars()]


async def notes(database: Database, checkin_id: int) -> list[str | None]:
    async with database.session() as session:
        return [a.text for a in await answers.answers_for(session, checkin_id) if a.step_key == "note"]


async def history_notes(database: Database) -> list[str]:
    async with database.session() as session:
        return [entry.texts.get("note", "") for entry in await client_history(session, "dana")]


async def test_answers_are_sealed_at_rest_and_read_back_plain(database_target: DatabaseTarget) -> None:
    database = database_target.create(sealer(KEY_A))
    await database.start()
    checkin_id = await seed_checkin(database, NOTE)
    [stored] = await raw(database, "SELECT text FROM answers WHERE text IS NOT NULL")
    assert stored.startswith("fernet:") and "zebra" not in stored
    assert await notes(database, checkin_id) == [NOTE]
    assert await history_notes(database) == [NOTE]
    # The values stayed as they were: reading opened them without writing them back.
    assert await raw(database, "SELECT text FROM answers WHERE text IS NOT NULL") == [stored]


async def test_plain_rows_written_before_a_key_read_beside_sealed_ones(database_target: DatabaseTarget) -> None:
    before = database_target.create()
    await before.start()
    first = await seed_checkin(before, "written before the key")
    await before.stop()
    after = database_target.create(sealer(KEY_A))
    await after.start()
    second = await seed_checkin(after, NOTE, week=1)
    assert await notes(after, first) == ["written before the key"]
    assert await notes(after, second) == [NOTE]
    assert await history_notes(after) == ["written before the key", NOTE]
    stored = await raw(after, "SELECT text FROM answers WHERE text IS NOT NULL ORDER BY id")
    assert stored[0] == "written before the key" and stored[1].startswith("fernet:")


async def test_a_value_sealed_with_a_dropped_key_reads_as_unavailable_and_is_logged_without_content(
    database_target: DatabaseTarget, caplog: pytest.LogCaptureFixture
) -> None:
    writer = database_target.create(sealer(KEY_A))
    await writer.start()
    checkin_id = await seed_checkin(writer, NOTE)
    await writer.stop()
    reader = database_target.create(sealer(KEY_B))
    await reader.start()
    with caplog.at_level(logging.WARNING):
        assert await notes(reader, checkin_id) == [None]
        assert await history_notes(reader) == [""]
    assert any(KEY_ENV in r.getMessage() and "answer" in r.getMessage() for r in caplog.records)
    assert not any("zebra" in r.getMessage() for r in caplog.records)


async def test_outbox_payloads_and_alert_reasons_are_sealed_at_rest(database_target: DatabaseTarget) -> None:
    database = database_target.create(sealer(KEY_A))
    await database.start()
    checkin_id = await seed_checkin(database, NOTE)
    message = OutboundMessage("slack", "U0MAYA0001", f'Dana wrote: "{NOTE}"', audience="coach")
    async with database.transaction() as session:
        await outbox.enqueue(session, [outbox.OutboxRow("slack", "U0MAYA0001", message.to_payload(), "k")], T0)
        reason = {"kind": "words", "practice": "trust", "reason": f'Dana wrote "{NOTE}"'}
        alert = await alerts.create_alert(session, "dana", checkin_id, "watch", [reason], T0)
        assert alert.signals == [reason]
    for column in ("payload", "signals"):
        [stored] = await raw(database, f"SELECT {column} FROM {'outbox' if column == 'payload' else 'alerts'}")
        assert "zebra" not in stored and "fernet:" in stored
    async with database.session() as session:
        [opened] = await alerts.alerts_for_client(session, "dana")
        assert opened.signals == [reason]
        assert [a.signals for a in await alerts.alerts_for_checkin(session, checkin_id)] == [[reason]]
        again = await outbox.outbox_row(session, "k")
        assert again is not None and again.payload["text"] == message.text
    async with database.transaction() as session:
        [leased] = await outbox.due_outbox(session, T0, 10, "w", timedelta(seconds=60))
        assert OutboundMessage.from_payload(leased.platform, leased.recipient, leased.payload).text == message.text
    # The lease wrote the row, but not the opened text.
    assert all("zebra" not in value for value in await raw(database, "SELECT payload FROM outbox"))


async def test_rotation_new_key_first_rekey_then_drop_the_old_key(database_target: DatabaseTarget) -> None:
    plain = database_target.create()
    await plain.start()
    first = await seed_checkin(plain, "plain before any key")
    await plain.stop()
    old = database_target.create(sealer(KEY_A))
    await old.start()
    second = await seed_checkin(old, NOTE, week=1)
    async with old.transaction() as session:
        payload = OutboundMessage("slack", "U0MAYA0001", NOTE, audience="coach").to_payload()
        await outbox.enqueue(session, [outbox.OutboxRow("slack", "U0MAYA0001", payload, "k")], T0)
        await waiting.hold(session, "maya", "dana", "w", payload, None, T0)
        reason = {"kind": "words", "practice": "trust", "reason": NOTE, "value": 1.0}
        await alerts.create_alert(session, "dana", second, "watch", [reason, {"kind": "drop"}], T0)
    await old.stop()

    both = database_target.create(sealer(f"{KEY_B},{KEY_A}"))
    await both.start()
    reports = await rekey(both, batch=1)  # a batch of one row walks every batch boundary
    assert {r.name: (r.sealed, r.resealed, r.current, r.unreadable) for r in reports} == {
        "answer texts": (1, 1, 0, 0),
        "alert reasons": (0, 1, 0, 0),
        "outbox messages": (0, 1, 0, 0),
        "messages waiting for a coach": (0, 1, 0, 0),
    }
    again = await rekey(both)
    assert [(r.sealed, r.resealed, r.unreadable) for r in again] == [(0, 0, 0)] * 4
    await both.stop()

    new = database_target.create(sealer(KEY_B))
    await new.start()
    assert await notes(new, first) == ["plain before any key"]
    assert await notes(new, second) == [NOTE]
    async with new.session() as session:
        [alert] = await alerts.alerts_for_client(session, "dana")
        assert alert.signals == [reason, {"kind": "drop"}]
        row = await outbox.outbox_row(session, "k")
        assert row is not None and row.payload["text"] == NOTE
    stored = await raw(new, "SELECT text FROM answers WHERE text IS NOT NULL")
    assert all(value.startswith("fernet:") for value in stored)


async def test_rekey_counts_values_no_key_opens(database_target: DatabaseTarget) -> None:
    writer = database_target.create(sealer(KEY_A))
    await writer.start()
    await seed_checkin(writer, NOTE)
    await writer.stop()
    other = database_target.create(sealer(KEY_B))
    await other.start()
    [answers, *_] = await rekey(other)
    assert answers == FieldReport("answer texts", unreadable=1)


# ---- the command line (SQLite, like the other command-line tests) --------------------------------------


@pytest.mark.process
def test_rekey_at_the_command_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    unset = checkin("rekey", "--config", str(config), env={KEY_ENV: ""})
    assert unset.returncode == 2
    assert f"{KEY_ENV} is not set" in unset.stderr
    malformed = checkin("rekey", "--config", str(config), env={KEY_ENV: "zebra-not-a-key"})
    assert malformed.returncode == 2
    assert KEY_ENV in malformed.stderr and "zebra" not in malformed.stderr and "Traceback" not in malformed.stderr
    done = checkin("rekey", "--config", str(config), env={KEY_ENV: KEY_A})
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()[0] == "answer texts: 0 encrypted, 0 re-encrypted with the new key, 0 already current"
    )


@pytest.mark.process
def test_run_refuses_a_malformed_key_before_starting(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    result = checkin("run", "--console", "--config", str(config), env={KEY_ENV: f"{KEY_A},zebra-not-a-key"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"checkin run: {KEY_ENV}: key 2 of 2 is not a Fernet key (32 url-safe base64-encoded bytes); "
        'generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )
    assert not (tmp_path / "c.sqlite3").exists()


@pytest.mark.process
async def test_rekey_at_the_command_line_reports_values_it_cannot_open(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"
    database = Database(url, sealer=sealer(KEY_A))
    await database.start()
    await seed_checkin(database, NOTE)
    await database.stop()
    config = write_config(tmp_path, url)
    result = checkin("rekey", "--config", str(config), env={KEY_ENV: KEY_B})
    assert result.returncode == 1
    assert "1 value could not be decrypted with any key in CHECKIN_ENCRYPTION_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    fixed = checkin("rekey", "--config", str(config), env={KEY_ENV: f"{KEY_B},{KEY_A}"})
    assert fixed.returncode == 0, fixed.stderr
    assert "answer texts: 0 encrypted, 1 re-encrypted with the new key, 0 already current" in fixed.stdout


# ---- the runtime on a sealed database -------------------------------------------------------------------


async def test_an_urgent_alert_sent_again_reads_the_same_from_a_sealed_outbox(
    database_target: DatabaseTarget, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(RUNTIME_CONFIG, encoding="utf-8")
    slack = CollectingAdapter("slack")
    clock = ManualClock(SLOT)
    runtime = runtime_for(path, database_target.create(sealer(KEY_A)), clock, {"slack": slack})
    await runtime.start()
    try:
        await runtime.lifecycle.start_checkin("dana", SLOT)
        for n, reply in enumerate(["4", "4", "4", "1", "4", "4", NOTE, "skip"]):
            await say(runtime, reply, f"ev-{n}")
        _summary, first = slack.to(MAYA)
        assert NOTE in first.text
        clock.advance(timedelta(days=1))
        assert await runtime.housekeeping.resend_unacknowledged() == 1
        await runtime.outbox.drain()
        *_, again = slack.to(MAYA)
        assert again.text.endswith("\n" + first.text)
        assert "zebra" not in await raw_values(runtime.database)
    finally:
        await runtime.stop()
