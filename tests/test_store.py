"""Store behaviour on SQLite and PostgreSQL: the guarantees DESIGN §6 rests on."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import PersonKind, Severity
from bot.store import CheckIn, Client, Coach, Database, Goal, Identity, IdentityKind, OutboxMessage, checkins, outbox
from bot.store.alerts import alerts_for_client, create_alert
from bot.store.answers import answers_for, delete_answer, upsert_answer
from bot.store.checkins import Claim, open_checkin_for_update
from bot.store.clients import mark_privacy_notice_sent, schedule_facts, set_client_opt_out, set_client_pause
from bot.store.coaching_sessions import recorded_sessions
from bot.store.events import remember_event
from bot.store.identities import find_client_by_identity, find_coach_by_identity
from bot.store.invites import create_telegram_invite, redeem_telegram_invite
from bot.store.outbox import OutboxRow, due_outbox, mark_failed, mark_retry, mark_sent
from bot.store.people import ClientRecord, CoachRecord, GoalRecord, sync_people
from tests.support.revisions import HEAD_REVISION

if TYPE_CHECKING:
    from conftest import DatabaseTarget

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def claim_checkin(
    session: AsyncSession, client_id: str, slot: datetime, question_set: str, now: datetime
) -> CheckIn | None:
    """One claim through the batch API; the row when this call won it, else None."""
    won = await checkins.claim_checkins(session, [Claim(client_id, slot, question_set, {"v": 1})], now)
    return await session.get(CheckIn, won[client_id]) if client_id in won else None


async def enqueue(
    session: AsyncSession, platform: str, recipient: str, payload: dict[str, Any], key: str, now: datetime
) -> OutboxMessage | None:
    """One message through the batch API; the row when it was new, else None."""
    if not await outbox.enqueue(session, [OutboxRow(platform, recipient, payload, key)], now):
        return None
    return await session.scalar(sa.select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


LEASE = timedelta(seconds=30)

COACH = CoachRecord(id="maria", name="Maria", timezone="Europe/Berlin", digest="weekly", slack_user_id="UCOACH")
ANNA = ClientRecord(
    id="anna",
    name="Anna",
    coach_id="maria",
    timezone="Europe/Berlin",
    cadence="weekly",
    question_set="standard",
    language="en",
    platform="slack",
    slack_user_id="UANNA",
    goals=(GoalRecord("delegate", "Delegate more"), GoalRecord("board", "Prepare the board")),
)
BEN = ClientRecord(
    id="ben",
    name="Ben",
    coach_id="maria",
    timezone="America/New_York",
    cadence="biweekly",
    question_set="short",
    language="de",
    platform="telegram",
)


async def seed(database: Database) -> None:
    async with database.transaction() as session:
        await sync_people(session, [COACH], [ANNA, BEN], T0)


async def test_start_twice_and_second_instance_are_noops(database_target: DatabaseTarget) -> None:
    first = database_target.create()
    await first.start()
    await first.upgrade()
    second = database_target.create()
    await second.start()
    async with second.session() as session:
        versions = (await session.scalars(sa.text("SELECT version_num FROM alembic_version"))).all()
    assert versions == [HEAD_REVISION]


async def test_sync_people_inserts_updates_and_deactivates(database: Database) -> None:
    async with database.transaction() as session:
        result = await sync_people(session, [COACH], [ANNA, BEN], T0)
    assert result.added_coaches == ["maria"]
    assert result.added_clients == ["anna", "ben"]
    assert result.deactivated_clients == []

    async with database.session() as session:
        anna = await session.get(Client, "anna")
        assert anna is not None
        assert (anna.platform, anna.identity("slack", IdentityKind.USER_ID), anna.active, anna.created_at) == (
            "slack",
            "UANNA",
            True,
            T0,
        )
        goals = (await session.scalars(sa.select(Goal).order_by(Goal.position))).all()
        assert [(g.client_id, g.id, g.position, g.active) for g in goals] == [
            ("anna", "delegate", 0, True),
            ("anna", "board", 1, True),
        ]

    later = T0 + timedelta(days=1)
    renamed = replace(ANNA, name="Anna K.", goals=(GoalRecord("board", "Board prep"),))
    async with database.transaction() as session:
        checkin = await claim_checkin(session, "ben", T0, "short", T0)
        assert checkin is not None
        result = await sync_people(session, [COACH], [renamed], later)
    assert result.added_clients == []
    assert result.deactivated_clients == ["ben"]

    async with database.session() as session:
        anna = await session.get(Client, "anna")
        ben = await session.get(Client, "ben")
        coach = await session.get(Coach, "maria")
        assert anna is not None and ben is not None and coach is not None
        assert (anna.name, anna.updated_at, anna.created_at) == ("Anna K.", later, T0)
        assert (ben.active, ben.updated_at) == (False, later)
        # Unchanged rows keep their updated_at: it records real config changes only.
        assert coach.updated_at == T0
        goals = {g.id: (g.title, g.active, g.position) for g in await session.scalars(sa.select(Goal))}
        assert goals == {"delegate": ("Delegate more", False, 0), "board": ("Board prep", True, 0)}
        # History of a removed client stays.
        assert (await session.scalars(sa.select(CheckIn).where(CheckIn.client_id == "ben"))).one()

    async with database.transaction() as session:
        result = await sync_people(session, [], [ANNA, BEN], later)
    assert result.deactivated_coaches == ["maria"]
    assert result.added_clients == []
    async with database.session() as session:
        ben = await session.get(Client, "ben")
        coach = await session.get(Coach, "maria")
        assert ben is not None and coach is not None
        assert ben.active and not coach.active
        assert (await session.get(Goal, ("anna", "delegate"))) is not None


async def test_sync_keeps_runtime_owned_columns(database: Database) -> None:
    await seed(database)
    own_pause = T0 + timedelta(days=14)
    async with database.transaction() as session:
        await set_client_pause(session, "anna", own_pause)
        await set_client_opt_out(session, "ben", T0)
        assert await mark_privacy_notice_sent(session, ["anna"], T0) == {"anna"}
        await create_telegram_invite(session, "tok", "client", "ben", T0 + timedelta(days=1), T0)
        assert await redeem_telegram_invite(session, "tok", 4242, T0) is not None

    async with database.transaction() as session:
        await sync_people(session, [COACH], [ANNA, BEN], T0 + timedelta(hours=1))
    async with database.session() as session:
        anna = await session.get(Client, "anna")
        ben = await session.get(Client, "ben")
        assert anna is not None and ben is not None
        assert (anna.paused_until, anna.privacy_notice_sent_at, anna.updated_at) == (own_pause, T0, T0)
        assert (ben.opted_out_at, ben.identity("telegram", IdentityKind.CHAT_ID)) == (T0, "4242")

    config_pause = T0 + timedelta(days=3)
    paused = replace(ANNA, paused_until=config_pause)
    async with database.transaction() as session:
        await sync_people(session, [COACH], [paused, BEN], T0 + timedelta(hours=2))
    async with database.session() as session:
        anna = await session.get(Client, "anna")
        assert anna is not None
        assert (anna.paused_until, anna.updated_at) == (config_pause, T0 + timedelta(hours=2))


async def test_sync_follows_config_slack_identities_and_keeps_a_bound_chat(database: Database) -> None:
    """A changed Slack identity is a change of the person (updated_at moves); a bound Telegram chat stays put."""
    await seed(database)
    async with database.transaction() as session:
        await create_telegram_invite(session, "tok", "client", "anna", T0 + timedelta(days=1), T0)
        assert await redeem_telegram_invite(session, "tok", -100777, T0) is not None
    later = T0 + timedelta(hours=1)
    by_email = replace(ANNA, slack_user_id=None, slack_email="anna@example.com")
    async with database.transaction() as session:
        await sync_people(session, [COACH], [by_email, BEN], later)
    async with database.session() as session:
        anna = await session.get(Client, "anna")
        coach = await session.get(Coach, "maria")
        assert anna is not None and coach is not None
        assert [(i.platform, i.kind, i.value) for i in anna.identities] == [
            ("telegram", IdentityKind.CHAT_ID, "-100777"),
            ("slack", IdentityKind.EMAIL, "anna@example.com"),
        ]
        assert (anna.updated_at, coach.updated_at) == (later, T0)
        assert await find_client_by_identity(session, "slack", "UANNA") is None
        found = await find_client_by_identity(session, "slack", "UANY", email="Anna@Example.com")
        assert found is not None and found.id == "anna"

    async with database.transaction() as session:
        await sync_people(session, [COACH], [by_email, BEN], later + timedelta(hours=1))
    async with database.session() as session:
        anna = await session.get(Client, "anna")
        assert anna is not None and anna.updated_at == later


async def test_client_flags(database: Database) -> None:
    await seed(database)
    async with database.transaction() as session:
        assert await mark_privacy_notice_sent(session, ["anna"], T0) == {"anna"}
        assert await mark_privacy_notice_sent(session, ["anna"], T0 + timedelta(days=7)) == set()
        await set_client_pause(session, "anna", T0 + timedelta(days=14))
        await set_client_pause(session, "anna", None)
        await set_client_opt_out(session, "anna", T0)
        with pytest.raises(LookupError):
            await set_client_pause(session, "nobody", None)
    async with database.session() as session:
        anna = await session.get(Client, "anna")
        assert anna is not None
        assert (anna.privacy_notice_sent_at, anna.paused_until, anna.opted_out_at) == (T0, None, T0)


async def test_find_by_identity(database: Database) -> None:
    await seed(database)
    async with database.transaction() as session:
        await create_telegram_invite(session, "old-tok", "client", "ben", T0 - timedelta(seconds=1), T0)
        assert await redeem_telegram_invite(session, "old-tok", 1, T0) is None
        await create_telegram_invite(session, "ben-tok", "client", "ben", T0 + timedelta(days=1), T0)
        await create_telegram_invite(session, "coach-tok", "coach", "maria", T0 + timedelta(days=1), T0)
        invite = await redeem_telegram_invite(session, "ben-tok", 1001, T0)
        assert invite is not None and (invite.person_id, invite.moved_from) == ("ben", None)
        assert await redeem_telegram_invite(session, "ben-tok", 1002, T0) is None
        assert await redeem_telegram_invite(session, "coach-tok", 2002, T0) is not None

    async with database.session() as session:
        assert (await find_client_by_identity(session, "slack", "UANNA")) is not None
        found = await find_client_by_identity(session, "telegram", "1001")
        assert found is not None and found.id == "ben"
        assert (await find_client_by_identity(session, "telegram", "not-a-number")) is None
        assert (await find_client_by_identity(session, "console", "anna")) is not None
        assert (await find_client_by_identity(session, "slack", "USTRANGER")) is None
        assert (await find_client_by_identity(session, "slack", "USTRANGER", "stranger@example.com")) is None
        coach = await find_coach_by_identity(session, "telegram", "2002")
        assert coach is not None and coach.id == "maria"
        assert (await find_coach_by_identity(session, "slack", "UCOACH")) is not None
        with pytest.raises(ValueError, match="unknown platform"):
            await find_client_by_identity(session, "fax", "1")

    async with database.transaction() as session:
        await sync_people(session, [COACH], [BEN], T0)
    async with database.session() as session:
        assert (await find_client_by_identity(session, "slack", "UANNA")) is None


async def test_slack_people_configured_by_email_are_found_by_it(database: Database) -> None:
    """Until the adapter resolves an e-mail to a user id, the address is ``email:…`` or the sender's e-mail."""
    by_email = replace(ANNA, slack_user_id=None, slack_email="Anna@Example.com")
    coach = replace(COACH, slack_user_id=None, slack_email="maria@example.com")
    async with database.transaction() as session:
        await sync_people(session, [coach], [by_email], T0)
    async with database.session() as session:
        found = await find_client_by_identity(session, "slack", "U0ANNA", "anna@example.com")
        assert found is not None and found.id == "anna"
        assert (await find_client_by_identity(session, "slack", "email:ANNA@example.com")) is not None
        assert (await find_client_by_identity(session, "slack", "U0ANNA")) is None
        assert (await find_client_by_identity(session, "slack", "U0ANNA", "other@example.com")) is None
        found_coach = await find_coach_by_identity(session, "slack", "U0MARIA", "maria@example.com")
        assert found_coach is not None and found_coach.id == "maria"


async def test_claim_twice_returns_none_and_keeps_transaction_usable(database: Database) -> None:
    await seed(database)
    async with database.transaction() as session:
        first = await claim_checkin(session, "anna", T0, "standard", T0)
        assert first is not None
        assert (first.status, first.slot, first.reminders_sent, first.state) == ("sent", T0, 0, {"v": 1})
        assert await claim_checkin(session, "anna", T0, "standard", T0) is None
        second_slot = await claim_checkin(session, "anna", T0 + timedelta(days=7), "standard", T0)
        assert second_slot is not None
    async with database.session() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(CheckIn))
    assert count == 2


async def test_a_batch_of_claims_stores_each_its_own_questions_and_state(database: Database) -> None:
    """PostgreSQL receives a batch's questions texts once each, numbered; every check-in must get its own."""
    await seed(database)
    standard, short = '{"id": "standard", "questions": ["hope"]}', '{"id": "short", "questions": ["trust"]}'
    later = T0 + timedelta(days=7)
    claims = [
        Claim("anna", T0, "standard", {"v": 1, "for": "anna"}, standard),
        Claim("ben", T0, "short", {"v": 1, "for": "ben"}, short),
        Claim("anna", later, "standard", {"v": 1, "for": "anna, later"}, standard),
        Claim("ben", later, "short", {"v": 1, "for": "ben, unasked"}),
    ]
    async with database.transaction() as session:
        won = await checkins.claim_checkins(session, claims, T0)
        assert await checkins.claim_checkins(session, claims, T0) == {}
    async with database.session() as session:
        stored = (await session.execute(sa.select(CheckIn.id, CheckIn.slot, CheckIn.state, CheckIn.questions))).all()
    assert {state["for"]: (slot, questions) for _, slot, state, questions in stored} == {
        "anna": (T0, {"id": "standard", "questions": ["hope"]}),
        "ben": (T0, {"id": "short", "questions": ["trust"]}),
        "anna, later": (later, {"id": "standard", "questions": ["hope"]}),
        "ben, unasked": (later, None),
    }
    assert set(won.items()) <= {(state["for"].split(",")[0], checkin_id) for checkin_id, _, state, _ in stored}


async def test_concurrent_claims_have_exactly_one_winner(database: Database) -> None:
    await seed(database)

    async def claim() -> CheckIn | None:
        async with database.transaction() as session:
            return await claim_checkin(session, "anna", T0, "standard", T0)

    results = await asyncio.gather(*(claim() for _ in range(20)))
    assert sum(result is not None for result in results) == 1
    async with database.session() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(CheckIn))
    assert count == 1


async def test_datetimes_round_trip_as_aware_utc(database: Database) -> None:
    await seed(database)
    berlin_morning = datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with database.transaction() as session:
        checkin = await claim_checkin(session, "anna", berlin_morning, "standard", T0)
        assert checkin is not None
        checkin_id = checkin.id
    async with database.session() as session:
        loaded = await session.get(CheckIn, checkin_id)
        assert loaded is not None
        assert loaded.slot == berlin_morning
        assert loaded.slot.tzinfo is UTC
        assert loaded.slot.hour == 7
        # Comparisons in SQL see the same instant whatever offset the parameter carries.
        match = await session.scalar(sa.select(CheckIn.id).where(CheckIn.slot == berlin_morning.astimezone(UTC)))
        assert match == checkin_id
        raw = await session.scalar(sa.text("SELECT slot FROM checkins"))
        if database.dialect == "sqlite":
            assert raw == "2026-07-01 07:30:15.123456"

    with pytest.raises(StatementError, match="naive datetime refused"):
        async with database.transaction() as session:
            await claim_checkin(session, "anna", datetime(2026, 7, 1, 9, 30), "standard", T0)


async def test_answers_upsert_delete_and_order(database: Database) -> None:
    await seed(database)
    async with database.transaction() as session:
        checkin = await claim_checkin(session, "anna", T0, "standard", T0)
        assert checkin is not None
        hope = await upsert_answer(session, checkin.id, "hope", "hope", "hope", None, 3, None, T0)
        await upsert_answer(
            session,
            checkin.id,
            "progress:delegate",
            "progress",
            "hope",
            "delegate",
            2,
            None,
            T0 + timedelta(minutes=1),
        )
        again = await upsert_answer(
            session, checkin.id, "hope", "hope", "hope", None, 5, "better", T0 + timedelta(minutes=2)
        )
        assert again.id == hope.id
        assert (again.value, again.text) == (5, "better")
        answers = await answers_for(session, checkin.id)
        assert [(a.step_key, a.value) for a in answers] == [("progress:delegate", 2), ("hope", 5)]
        assert await delete_answer(session, checkin.id, "hope")
        assert not await delete_answer(session, checkin.id, "hope")
        assert [a.step_key for a in await answers_for(session, checkin.id)] == ["progress:delegate"]
        checkin_id = checkin.id

    async with database.transaction() as session:
        await session.execute(sa.delete(CheckIn).where(CheckIn.id == checkin_id))
    async with database.session() as session:
        assert await answers_for(session, checkin_id) == []


async def test_open_checkin_for_update_picks_newest_open(database: Database) -> None:
    await seed(database)
    async with database.transaction() as session:
        assert await open_checkin_for_update(session, "anna") is None
        old = await claim_checkin(session, "anna", T0, "standard", T0)
        new = await claim_checkin(session, "anna", T0 + timedelta(days=7), "standard", T0)
        done = await claim_checkin(session, "anna", T0 + timedelta(days=14), "standard", T0)
        assert old is not None and new is not None and done is not None
        old.status, new.status, done.status = "in_progress", "sent", "completed"
        new.state = {"position": 2, "answers": {"hope": 4}}
    async with database.transaction() as session:
        found = await open_checkin_for_update(session, "anna")
        assert found is not None
        assert (found.id, found.state) == (new.id, {"position": 2, "answers": {"hope": 4}})


async def test_outbox_enqueue_dedups_by_key(database: Database) -> None:
    async with database.transaction() as session:
        message = await enqueue(session, "slack", "UANNA", {"text": "hi"}, "checkin:1:ask", T0)
        assert message is not None
        assert (message.status, message.attempts, message.next_attempt_at) == ("pending", 0, T0)
        assert await enqueue(session, "slack", "UANNA", {"text": "again"}, "checkin:1:ask", T0) is None
    async with database.session() as session:
        payloads = (await session.scalars(sa.select(OutboxMessage.payload))).all()
    assert payloads == [{"text": "hi"}]


async def test_outbox_enqueue_keeps_the_order_given_in_ids(database: Database) -> None:
    """A batch longer than a page of the old executemany, recipients interleaved, one key queued before: ids follow
    the order given, so each recipient's messages go in it (PostgreSQL inserts them from arrays)."""
    later = T0 + timedelta(minutes=5)
    rows = [
        OutboxRow("telegram", str(n % 7), {"text": f"message {n}", "n": n}, f"key-{n}", (PersonKind.CLIENT, "anna"))
        for n in range(700)
    ]
    rows[3] = replace(rows[3], person=None, not_before=later)
    async with database.transaction() as session:
        assert await outbox.enqueue(session, [rows[10]], T0) == 1
        assert await outbox.enqueue(session, rows, T0) == 699
    async with database.session() as session:
        stored = (await session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert [m.payload["n"] for m in stored] == [10, *(n for n in range(700) if n != 10)]
    assert all(m.payload["text"] == f"message {m.payload['n']}" for m in stored)
    assert {(m.status, m.attempts, m.created_at) for m in stored} == {("pending", 0, T0)}
    third = next(m for m in stored if m.payload["n"] == 3)
    assert (third.person_kind, third.person_id, third.next_attempt_at) == (None, None, later)
    assert {(m.person_kind, m.person_id) for m in stored if m is not third} == {(PersonKind.CLIENT, "anna")}


async def _enqueue_many(database: Database, count: int, at: datetime = T0) -> list[int]:
    async with database.transaction() as session:
        # One recipient each: messages to the same recipient are sent strictly one after another.
        messages = [await enqueue(session, "telegram", str(n), {"n": n}, f"key-{n}", at) for n in range(count)]
    return [m.id for m in messages if m is not None]


async def test_due_outbox_leases_each_row_to_one_worker(database: Database) -> None:
    ids = await _enqueue_many(database, 10)
    await _enqueue_many_later(database)

    if database.dialect == "postgresql":
        # Worker A holds its lease transaction open while B leases: SKIP LOCKED must hand B other rows.
        async with database.transaction() as a_session:
            leased_a = await due_outbox(a_session, T0, 4, "a", LEASE)
            async with database.transaction() as b_session:
                leased_b = await due_outbox(b_session, T0, 4, "b", LEASE)
    else:
        async with database.transaction() as a_session:
            leased_a = await due_outbox(a_session, T0, 4, "a", LEASE)
        async with database.transaction() as b_session:
            leased_b = await due_outbox(b_session, T0, 4, "b", LEASE)

    a_ids = [m.id for m in leased_a]
    b_ids = [m.id for m in leased_b]
    assert a_ids == ids[:4]
    assert set(b_ids).isdisjoint(a_ids)
    assert len(b_ids) == 4
    assert all((m.status, m.leased_by, m.lease_until, m.attempts) == ("sending", "a", T0 + LEASE, 1) for m in leased_a)

    async with database.transaction() as session:
        rest = await due_outbox(session, T0, 100, "c", LEASE)
    assert sorted(m.id for m in rest) == sorted(set(ids) - set(a_ids) - set(b_ids))


async def _enqueue_many_later(database: Database) -> None:
    async with database.transaction() as session:
        await enqueue(session, "telegram", "42", {"n": "later"}, "key-later", T0 + timedelta(hours=1))


async def test_due_outbox_concurrent_workers_never_share(database: Database) -> None:
    ids = await _enqueue_many(database, 30)

    async def worker(name: str) -> list[int]:
        async with database.transaction() as session:
            return [m.id for m in await due_outbox(session, T0, 7, name, LEASE)]

    if database.dialect == "postgresql":
        batches = await asyncio.gather(*(worker(f"w{n}") for n in range(6)))
    else:
        batches = [await worker(f"w{n}") for n in range(6)]
    leased = [i for batch in batches for i in batch]
    assert len(leased) == len(set(leased)) == 30
    assert set(leased) == set(ids)


async def test_expired_lease_is_taken_over_and_outcomes_settle(database: Database) -> None:
    first, second, third = await _enqueue_many(database, 3)
    async with database.transaction() as session:
        assert [m.id for m in await due_outbox(session, T0, 10, "a", LEASE)] == [first, second, third]
    async with database.transaction() as session:
        assert await due_outbox(session, T0 + LEASE - timedelta(seconds=1), 10, "b", LEASE) == []
    taken_at = T0 + LEASE
    async with database.transaction() as session:
        taken = await due_outbox(session, taken_at, 10, "b", LEASE)
        assert [(m.id, m.leased_by, m.attempts) for m in taken] == [(first, "b", 2), (second, "b", 2), (third, "b", 2)]

    retry_at = taken_at + timedelta(minutes=5)
    async with database.transaction() as session:
        assert await mark_sent(session, [(first, "1700000000.000100")], taken_at) == 1
        assert await mark_sent(session, [(first, "again")], taken_at) == 0
        assert await mark_retry(session, second, "429 Too Many Requests", retry_at)
        assert await mark_failed(session, third, "403 bot was blocked by the user")
    async with database.session() as session:
        rows = {m.id: m for m in await session.scalars(sa.select(OutboxMessage))}
    assert (rows[first].status, rows[first].platform_ref, rows[first].sent_at, rows[first].lease_until) == (
        "sent",
        "1700000000.000100",
        taken_at,
        None,
    )
    assert (rows[second].status, rows[second].next_attempt_at, rows[second].last_error) == (
        "pending",
        retry_at,
        "429 Too Many Requests",
    )
    assert (rows[third].status, rows[third].leased_by) == ("failed", None)

    async with database.transaction() as session:
        assert await due_outbox(session, retry_at - timedelta(seconds=1), 10, "c", LEASE) == []
        again = await due_outbox(session, retry_at, 10, "c", LEASE)
    assert [(m.id, m.attempts) for m in again] == [(second, 3)]


async def test_a_message_never_overtakes_an_earlier_one_to_the_same_recipient(database: Database) -> None:
    async with database.transaction() as session:
        greeting = await enqueue(session, "slack", "UANNA", {"n": 1}, "a-1", T0)
        question = await enqueue(session, "slack", "UANNA", {"n": 2}, "a-2", T0)
        other = await enqueue(session, "slack", "UBEN", {"n": 1}, "b-1", T0)
    assert greeting is not None
    assert question is not None
    assert other is not None
    async with database.transaction() as session:
        assert [m.id for m in await due_outbox(session, T0, 10, "a", LEASE)] == [greeting.id, other.id]
    async with database.transaction() as session:
        assert await due_outbox(session, T0, 10, "b", LEASE) == []  # the greeting is still in flight
        assert await mark_retry(session, greeting.id, "503", T0 + timedelta(minutes=1))
        assert await mark_sent(session, [(other.id, "ts-0")], T0) == 1
    async with database.transaction() as session:
        assert await due_outbox(session, T0 + timedelta(seconds=30), 10, "b", LEASE) == []  # waits behind it
    async with database.transaction() as session:
        leased = await due_outbox(session, T0 + timedelta(minutes=1), 10, "b", LEASE)
        assert [m.id for m in leased] == [greeting.id]
        assert await mark_sent(session, [(greeting.id, "ts-1")], T0 + timedelta(minutes=1)) == 1
    async with database.transaction() as session:
        assert [m.id for m in await due_outbox(session, T0 + timedelta(minutes=1), 10, "b", LEASE)] == [question.id]


async def test_only_unsent_rows_hold_a_recipient_back_and_each_recipient_yields_its_first(database: Database) -> None:
    """The lease reads the first unsent row per recipient: settled history (sent, failed, cancelled) of any
    length never holds a recipient back, rows to other recipients interleave, and only heads are handed out."""
    rows = [OutboxRow("telegram", str(n % 3), {"n": n}, f"old-{n}") for n in range(30)]
    async with database.transaction() as session:
        await outbox.enqueue(session, rows, T0)
        history = [m.id for m in await due_outbox(session, T0, 100, "w", LEASE)]
        for _ in range(9):  # every row to every recipient settles, in order, a different way each time
            settled = history
            await mark_sent(session, [(i, "ref") for i in settled[:1]], T0)
            await mark_failed(session, settled[1], "403")
            await session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id == settled[2]).values(status="cancelled")
            )
            history = [m.id for m in await due_outbox(session, T0, 100, "w", LEASE)]
            assert len(history) == 3
        queued = [OutboxRow("telegram", str(n % 3), {"n": n}, f"new-{n}") for n in range(6)]
        assert await outbox.enqueue(session, queued, T0) == 6
        await mark_sent(session, [(i, "ref") for i in history], T0)
    async with database.transaction() as session:
        leased = await due_outbox(session, T0, 100, "w", LEASE)
    assert [(m.recipient, m.payload["n"]) for m in leased] == [("0", 0), ("1", 1), ("2", 2)]


async def test_a_held_row_holds_its_recipient_until_released_with_its_addition(database: Database) -> None:
    """A message queued ``not_before`` (its image still being drawn) waits, and so do the messages behind it
    to the same person; ``release_held`` adds to its payload and lets it go at once."""
    async with database.transaction() as session:
        await outbox.enqueue(
            session,
            [
                OutboxRow("telegram", "7", {"text": "alert"}, "alert:1:0", not_before=T0 + timedelta(minutes=1)),
                OutboxRow("telegram", "7", {"text": "next"}, "next:0"),
                OutboxRow("telegram", "8", {"text": "other"}, "other:0"),
            ],
            T0,
        )
    async with database.transaction() as session:
        assert [m.payload["text"] for m in await due_outbox(session, T0, 10, "w", LEASE)] == ["other"]
        assert await outbox.release_held(session, "alert:1:0", {"image_png": "UE5H"}, T0)
        assert not await outbox.release_held(session, "no-such-key", {"image_png": "UE5H"}, T0)
    async with database.transaction() as session:
        [alert] = await due_outbox(session, T0, 10, "w", LEASE)
        assert alert.payload == {"text": "alert", "image_png": "UE5H"}
        # Once it was attempted, a late addition changes nothing: the message went as it was.
        assert not await outbox.release_held(session, "alert:1:0", {"image_png": "other"}, T0)


async def test_remember_event(database: Database) -> None:
    async with database.transaction() as session:
        assert await remember_event(session, "slack", "Ev123", T0, (PersonKind.CLIENT, "dana"))
        assert not await remember_event(
            session, "slack", "Ev123", T0 + timedelta(seconds=5), (PersonKind.CLIENT, "dana")
        )
        assert await remember_event(session, "telegram", "Ev123", T0, (PersonKind.CLIENT, "dana"))


async def test_alerts_create_and_list(database: Database) -> None:
    await seed(database)
    signals = [{"kind": "drop", "practice": "trust", "reason": "Alliance index fell from 4.4 to 3.1"}]
    async with database.transaction() as session:
        checkin = await claim_checkin(session, "anna", T0, "standard", T0)
        assert checkin is not None
        later = await create_alert(
            session, "anna", None, Severity.WATCH, [{"kind": "withdrawal"}], T0 + timedelta(days=1)
        )
        first = await create_alert(session, "anna", checkin.id, Severity.URGENT, signals, T0)
        await create_alert(session, "ben", None, Severity.WATCH, [], T0)
    async with database.session() as session:
        alerts = await alerts_for_client(session, "anna")
    assert [a.id for a in alerts] == [first.id, later.id]
    assert (alerts[0].severity, alerts[0].signals, alerts[0].checkin_id, alerts[0].created_at) == (
        Severity.URGENT,
        signals,
        checkin.id,
        T0,
    )
    assert alerts[0].delivered_at is None and alerts[0].acknowledged_at is None


async def test_a_sync_of_an_unchanged_config_writes_nothing(database: Database) -> None:
    """At 10,000 clients every start used to send each client and goal through an upsert; now only what differs."""
    async with database.transaction() as session:
        await sync_people(session, [COACH], [ANNA, BEN], T0)
    written: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "PRAGMA")):
            written.append(statement.split()[0].upper())

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with database.transaction() as session:
            result = await sync_people(session, [COACH], [ANNA, BEN], T0 + timedelta(days=1))
        assert written == ["INSERT"]  # the coach's upsert, which the database finds unchanged
        written.clear()
        retitled = replace(ANNA, goals=(GoalRecord("board", "Board prep"), GoalRecord("delegate", "Delegate more")))
        async with database.transaction() as session:
            await sync_people(session, [COACH], [retitled, BEN], T0 + timedelta(days=2))
        assert sorted(written) == ["INSERT", "INSERT"]  # the coach's, and the two goals whose title or order moved
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert result.added_clients == []
    async with database.session() as session:
        goals = {g.id: (g.title, g.active, g.position) for g in await session.scalars(sa.select(Goal))}
    assert goals == {"board": ("Board prep", True, 0), "delegate": ("Delegate more", True, 1)}


async def test_reads_by_client_take_more_ids_than_a_statement_can_bind(database: Database) -> None:
    """A timer's pass asks about every client whose slot came; past 32,767 an IN list of their ids cannot be bound
    by asyncpg, so PostgreSQL gets them as one array."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite keeps the IN list: an embedded bot serves one coach's clients")
    await seed(database)
    ids = ["anna", *(f"nobody-{n}" for n in range(40_000))]
    async with database.session() as session:
        assert set(await schedule_facts(session, ids)) == {"anna"}
        assert await checkins.last_slots(session, ids) == {}
        assert await recorded_sessions(session, ids) == {}


async def test_sync_of_more_people_than_a_statement_can_bind(database: Database) -> None:
    """Reproduced on PostgreSQL at 100,000 clients before the fix: the first start marked every newly addressed
    client in one UPDATE ... IN (...), past the 32,767 values asyncpg binds, and the bot did not start. Adding,
    re-addressing and removing 33,000 clients now each go through on both databases."""
    many = [
        replace(ANNA, id=f"c{n:05d}", name=f"Client {n}", slack_user_id=f"U{n:05d}", goals=()) for n in range(33_000)
    ]
    async with database.transaction() as session:
        added = await sync_people(session, [COACH], many, T0)
    readdressed = [replace(client, slack_user_id=None, slack_email=f"{client.id}@example.com") for client in many]
    async with database.transaction() as session:
        await sync_people(session, [COACH], readdressed, T0 + timedelta(hours=1))
    async with database.transaction() as session:
        removed = await sync_people(session, [COACH], [], T0 + timedelta(hours=2))
    async with database.session() as session:
        active = await session.scalar(sa.select(sa.func.count()).select_from(Client).where(Client.active))
        emails = await session.scalar(
            sa.select(sa.func.count()).select_from(Identity).where(Identity.kind == IdentityKind.EMAIL)
        )
    assert (len(added.added_clients), len(removed.deactivated_clients), active, emails) == (33_000, 33_000, 0, 33_000)
