"""A client's history read back from the store, on SQLite and PostgreSQL, as the charts and detectors see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract.statuses import CheckInStatus
from bot.signals.history import AlertMark
from bot.store import CheckIn, Database, alerts, checkins, people
from bot.store import history as history_store
from bot.store.answers import upsert_answer
from bot.store.checkins import Claim
from bot.store.history import alert_marks, client_histories, client_history, listed_history, recent_scores
from bot.store.people import ClientRecord, CoachRecord, GoalRecord

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COACH = CoachRecord(id="maya", name="Maya Chen", timezone="UTC", digest="weekly")
DANA = ClientRecord(
    id="dana",
    name="Dana Whitfield",
    coach_id="maya",
    timezone="UTC",
    cadence="weekly",
    question_set="default",
    language="en",
    platform="slack",
    goals=(GoalRecord("delegate", "Delegate more"), GoalRecord("board", "Board presence")),
)
BEN = ClientRecord(
    id="ben",
    name="Ben Okafor",
    coach_id="maya",
    timezone="UTC",
    cadence="weekly",
    question_set="default",
    language="en",
    platform="slack",
)


async def add_checkin(
    session: AsyncSession,
    client_id: str,
    week: int,
    status: CheckInStatus,
    answers: dict[str, int | str] | None = None,
) -> int:
    """A check-in claimed at its slot, answered a step a minute, and left in ``status``."""
    slot = T0 + timedelta(weeks=week)
    won = await checkins.claim_checkins(session, [Claim(client_id, slot, "default", {"v": 1})], slot)
    checkin_id = won[client_id]
    for minute, (step_key, answer) in enumerate((answers or {}).items(), start=1):
        question_id = step_key.split(":")[0]
        value, text = (answer, None) if isinstance(answer, int) else (None, answer)
        goal_id = step_key.split(":")[1] if ":" in step_key else None
        answered_at = slot + timedelta(minutes=minute)
        await upsert_answer(session, checkin_id, step_key, question_id, question_id, goal_id, value, text, answered_at)
    checkin = await session.get(CheckIn, checkin_id)
    assert checkin is not None
    checkin.status = status
    checkin.completed_at = slot + timedelta(minutes=10) if status == "completed" else None
    return checkin_id


async def test_history_is_oldest_first_with_scores_texts_and_times(database: Database) -> None:
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA, BEN], T0)
        await add_checkin(
            session,
            "dana",
            0,
            "completed",
            {"progress:delegate": 2, "progress:board": 5, "hope": 4, "trust": 2, "note": "a rough week"},
        )
        await add_checkin(session, "dana", 1, "expired", {"hope": 3})
        await add_checkin(session, "dana", 2, "skipped")
        await add_checkin(session, "dana", 3, "sent", {"hope": 5})
        await add_checkin(session, "ben", 0, "completed", {"hope": 1})

    async with database.session() as session:
        history = await client_history(session, "dana")

    assert [(e.at, e.status) for e in history] == [
        (T0, "completed"),
        (T0 + timedelta(weeks=1), "expired"),
        (T0 + timedelta(weeks=2), "skipped"),
    ]
    first = history[0]
    assert first.client_id == "dana"
    assert dict(first.scores) == {"progress": 3.5, "hope": 4, "trust": 2}
    assert dict(first.texts) == {"note": "a rough week"}
    assert first.sent_at == T0
    assert first.completed_at == T0 + timedelta(minutes=10)
    assert first.at.tzinfo is not None
    assert dict(history[1].scores) == {"hope": 3}
    assert history[1].completed_at is None
    assert dict(history[2].scores) == {}


async def test_history_keeps_the_last_check_ins(database: Database) -> None:
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA], T0)
        for week in range(5):
            await add_checkin(session, "dana", week, "completed", {"hope": week % 5 + 1})

    async with database.session() as session:
        history = await client_history(session, "dana", limit=3)
        nobody = await client_history(session, "nobody")

    assert [e.at for e in history] == [T0 + timedelta(weeks=w) for w in (2, 3, 4)]
    assert [e.scores["hope"] for e in history] == [3, 4, 5]
    assert nobody == []


async def test_many_clients_histories_are_read_in_batches_that_bind_few_enough_values(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coach's digest reads all their clients' histories together; the answers are looked up by check-in id,
    so the clients go in batches small enough for SQLite's limit on bound values, and no client is lost."""
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA, BEN], T0)
        for week in range(3):
            await add_checkin(session, "dana", week, "completed", {"hope": week + 1, "note": f"week {week}"})
            await add_checkin(session, "ben", week, "completed", {"trust": 5 - week})

    async with database.session() as session:
        together = await client_histories(session, ["dana", "ben", "nobody"], limit=3)
        monkeypatch.setattr(history_store, "BOUND_VALUES", 3)  # one client per batch
        batched = await client_histories(session, ["dana", "ben", "nobody"], limit=3)
        one_by_one = {cid: await client_history(session, cid, limit=3) for cid in ("dana", "ben")}

    assert batched == together == one_by_one
    assert [e.texts["note"] for e in batched["dana"]] == ["week 0", "week 1", "week 2"]
    assert [e.scores["trust"] for e in batched["ben"]] == [5, 4, 3]


async def test_recent_scores_are_the_histories_scores_of_each_clients_last_check_ins(database: Database) -> None:
    """What the practice page draws: per client the same check-ins, times, statuses and scores as their history
    (a per-goal question averaged), the written answers and open check-ins left out; a client with fewer
    check-ins than asked for gets all of theirs."""
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA, BEN], T0)
        for week in range(6):
            answers: dict[str, int | str] = {"hope": week % 5 + 1, "progress:delegate": 2, "progress:board": week}
            await add_checkin(session, "dana", week, "expired" if week == 2 else "completed", answers | {"note": "x"})
        await add_checkin(session, "dana", 6, "skipped")
        await add_checkin(session, "dana", 7, "sent", {"hope": 5})
        await add_checkin(session, "ben", 0, "completed", {"trust": 4})

    async with database.session() as session:
        scores = await recent_scores(session, ["dana", "ben", "nobody"], limit=4)
        histories = await client_histories(session, ["dana", "ben"], limit=4)

    assert sorted(scores) == ["ben", "dana"]
    assert [e.at for e in scores["dana"]] == [T0 + timedelta(weeks=w) for w in (3, 4, 5, 6)]
    assert len(scores["ben"]) == 1
    for client_id, entries in scores.items():
        expected = histories[client_id]
        assert [(e.client_id, e.at, e.status, dict(e.scores)) for e in entries] == [
            (e.client_id, e.at, e.status, dict(e.scores)) for e in expected
        ]
        assert all(not e.texts for e in entries)
    assert dict(scores["dana"][0].scores) == {"hope": 4, "progress": 2.5}


async def test_a_listed_history_is_the_clients_history_without_the_times_the_page_does_not_show(
    database: Database,
) -> None:
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA], T0)
        for week in range(5):
            answers: dict[str, int | str] = {"progress:delegate": 2, "progress:board": week, "note": f"week {week}"}
            await add_checkin(session, "dana", week, "expired" if week == 1 else "completed", answers)
        await add_checkin(session, "dana", 5, "skipped")
        await add_checkin(session, "dana", 6, "sent", {"hope": 5})

    async with database.session() as session:
        listed = {limit: await listed_history(session, "dana", limit=limit) for limit in (3, 60)}
        expected = {limit: await client_history(session, "dana", limit=limit) for limit in (3, 60)}
        nobody = await listed_history(session, "nobody", limit=3)

    for limit, entries in listed.items():
        assert [(e.client_id, e.at, e.status, dict(e.scores), dict(e.texts)) for e in entries] == [
            (e.client_id, e.at, e.status, dict(e.scores), dict(e.texts)) for e in expected[limit]
        ]
    assert [e.at for e in listed[3]] == [T0 + timedelta(weeks=w) for w in (3, 4, 5)]
    assert dict(listed[3][0].texts) == {"note": "week 3"}
    assert len(listed[60]) == 6
    assert nobody == []


async def test_alert_marks_are_the_clients_own_oldest_first_with_their_severity(database: Database) -> None:
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [DANA, BEN], T0)
        checkin_id = await add_checkin(session, "dana", 0, "completed", {"trust": 1})
        for days, severity in ((9, "urgent"), (2, "watch")):
            await alerts.create_alert(session, "dana", checkin_id, severity, [], T0 + timedelta(days=days))
        await alerts.create_alert(session, "ben", None, "urgent", [], T0 + timedelta(days=1))

    async with database.session() as session:
        every = await alert_marks(session, "dana")
        recent = await alert_marks(session, "dana", since=T0 + timedelta(days=5))

    assert every == [AlertMark(T0 + timedelta(days=2), "watch"), AlertMark(T0 + timedelta(days=9), "urgent")]
    assert recent == [AlertMark(T0 + timedelta(days=9), "urgent")]
