"""`checkin status` at scale: a fixed number of queries whatever the number of clients, and the same rows as
reading each client's history one by one (SQLite and PostgreSQL), as the dashboard does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from bot.coaching.status import RATE_WINDOW, client_statuses, recent_of
from bot.config.question_sets import load_builtin_question_sets
from bot.contract.statuses import CheckInStatus
from bot.signals.digest import trend_arrow
from bot.store import Database, people
from bot.store.history import client_history
from tests.test_history_store import COACH, DANA, T0, add_checkin

RELATIONSHIP = ("hope", "focus", "trust", "perspective", "support")


def client(n: int) -> Any:
    return replace(DANA, id=f"c{n:02d}", name=f"Client {n:02d}", goals=())


async def seed(database: Database, count: int) -> None:
    """Clients whose histories differ in every way the rate and the arrow read: rising, falling and steady
    indexes, expired and skipped check-ins, answers outside the scale, an open check-in, more than the window."""
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [client(n) for n in range(count)], T0)
        for n in range(count):
            for week in range(n % 14):
                kind = (n + week) % 5
                if kind == 3:
                    await add_checkin(session, f"c{n:02d}", week, CheckInStatus.EXPIRED, {"hope": 2})
                elif kind == 4 and week % 2:
                    await add_checkin(session, f"c{n:02d}", week, CheckInStatus.SKIPPED)
                else:
                    value = 3 if n % 3 == 0 else 1 + (n * 7 + week * 3) % 5
                    answers: dict[str, int | str] = {q: value for q in RELATIONSHIP[: 1 + (week + n) % 5]}
                    if week % 6 == 5:
                        answers = {"hope": 9}  # outside the 1-5 scale: no index for this one
                    await add_checkin(session, f"c{n:02d}", week, CheckInStatus.COMPLETED, answers)
            if n % 4 == 0:
                await add_checkin(session, f"c{n:02d}", 20, CheckInStatus.SENT, {"hope": 1})


@contextmanager
def counted_queries(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = database.engine.sync_engine

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_status_queries_do_not_grow_with_the_clients(database: Database) -> None:
    await seed(database, 4)
    sets = load_builtin_question_sets()
    with counted_queries(database) as few:
        async with database.session() as session:
            assert len(await client_statuses(session, sets, T0 + timedelta(weeks=30))) == 4
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [client(n) for n in range(24)], T0)
    with counted_queries(database) as many:
        async with database.session() as session:
            assert len(await client_statuses(session, sets, T0 + timedelta(weeks=30))) == 24
    assert len(many) == len(few)


async def test_status_rows_match_each_clients_own_history(database: Database) -> None:
    await seed(database, 30)
    sets = load_builtin_question_sets()
    now = T0 + timedelta(weeks=30)
    async with database.session() as session:
        rows = {row.id: row for row in await client_statuses(session, sets, now)}
        for_coach = {row.id for row in await client_statuses(session, sets, now, coach_id="maya")}
        [one] = await client_statuses(session, sets, now, client_ids=["c13"])
        expected, from_history = {}, {}
        for n in range(30):
            history = await client_history(session, f"c{n:02d}", limit=RATE_WINDOW)
            # The dashboard takes them from a longer history it reads anyway: the same figures.
            recent = recent_of(await client_history(session, f"c{n:02d}", limit=60), sets["default"])
            from_history[f"c{n:02d}"] = (recent.response_rate, recent.arrow)
            finished = [e for e in history if e.status in (CheckInStatus.COMPLETED, CheckInStatus.EXPIRED)]
            rate = sum(e.status == CheckInStatus.COMPLETED for e in finished) / len(finished) if finished else None
            expected[f"c{n:02d}"] = (rate, trend_arrow(history, sets["default"]))
    assert {cid: (row.response_rate, row.arrow) for cid, row in rows.items()} == expected == from_history
    assert {arrow for _, arrow in expected.values()} == {"↑", "↓", "→", "·"}
    assert for_coach == set(rows)
    assert (one.response_rate, one.arrow) == expected["c13"]


async def test_an_arrow_looks_past_newest_checkins_without_an_index(database: Database) -> None:
    """The arrow compares the two newest check-ins that carry an alliance index: when the newest completed one
    has none (its only answer off the scale), the row is read from further back in the window, in one more
    query, and still shows the rise between the two before it."""
    async with database.transaction() as session:
        await people.sync_people(session, [COACH], [client(0), client(1)], T0)
        for n in range(2):
            await add_checkin(session, f"c0{n}", 0, CheckInStatus.COMPLETED, dict.fromkeys(RELATIONSHIP, 2))
            await add_checkin(session, f"c0{n}", 1, CheckInStatus.COMPLETED, dict.fromkeys(RELATIONSHIP, 4))
        await add_checkin(session, "c01", 2, CheckInStatus.COMPLETED, {"hope": 9})
    sets = load_builtin_question_sets()
    now = T0 + timedelta(weeks=3)
    with counted_queries(database) as indexed:
        async with database.session() as session:
            [row] = await client_statuses(session, sets, now, client_ids=["c00"])
    assert (row.response_rate, row.arrow) == (1.0, "↑")
    with counted_queries(database) as looked_further:
        async with database.session() as session:
            [row] = await client_statuses(session, sets, now, client_ids=["c01"])
    assert (row.response_rate, row.arrow) == (1.0, "↑")
    assert len(looked_further) == len(indexed) + 1
