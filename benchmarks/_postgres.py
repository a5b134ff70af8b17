"""The benchmarks' databases: a fresh SQLite file or a PostgreSQL schema per run, planner statistics, server CPU."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.store import Database

POSTGRES_URL = os.environ.get("CHECKIN_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def scratch_database(backend: str, directory: Path) -> AsyncIterator[Database]:
    """A fresh database for one run: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{directory / f'{uuid.uuid4().hex}.sqlite3'}")
        return
    schema = f"bench_{uuid.uuid4().hex}"
    await admin(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(POSTGRES_URL, schema=schema)
    finally:
        await admin(f'DROP SCHEMA "{schema}" CASCADE')


async def analyze(database: Database) -> None:
    """Give PostgreSQL's planner statistics for the freshly seeded tables, as autovacuum does within a minute."""
    if database.dialect == "postgresql":
        async with database.transaction() as session:
            await session.execute(text("ANALYZE"))


async def quiet_server(busy_below: float = 0.05, longest: float = 30.0) -> None:
    """Checkpoint, then wait until the server's processes use less than ``busy_below`` of a core (at most ``longest``
    seconds): what an earlier benchmark left the server doing (autovacuum on its dead rows, the checkpointer
    writing its pages) is not the next figure's cost, and on 2 cores it took CPU from the processes measured."""
    await admin("CHECKPOINT")
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = postgres_cpu_seconds()
        await asyncio.sleep(0.5)
        after = postgres_cpu_seconds()
        if before is None or after is None or after - before < busy_below * 0.5:
            return


async def admin(statement: str) -> None:
    """Run one statement on the PostgreSQL server outside any run's schema (creating or dropping one)."""
    engine = create_async_engine(Database(POSTGRES_URL).url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def postgres_cpu_seconds() -> float | None:
    """User plus system CPU of every PostgreSQL server process on this machine, from /proc; ``None`` if none.

    Other work on the machine that uses the same server is counted too, so the figure is an upper bound.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    found = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
            found = True
    return total / ticks if found else None
