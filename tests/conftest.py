"""Database fixtures: every store test runs on SQLite and on PostgreSQL (DESIGN §9).

PostgreSQL tests each get a schema of their own, so they can run against a shared database without
seeing each other's rows and leave nothing behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.store import Database
from bot.store.sealing import PLAIN, Sealer

POSTGRES_URL_ENV = "CHECKIN_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def backend_params() -> list[object]:
    """``pytest.mark.parametrize`` values for both backends, PostgreSQL carrying the postgres mark."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


@dataclass
class DatabaseTarget:
    """An empty, isolated place for a schema: a SQLite file or a fresh PostgreSQL schema.

    ``create()`` hands out unstarted ``Database`` objects on it (several, for start-up races); the
    target stops them all before it is removed.
    """

    backend: str
    url: str
    schema: str | None = None
    _created: list[Database] = field(default_factory=list)

    def create(self, sealer: Sealer = PLAIN) -> Database:
        database = Database(self.url, schema=self.schema, sealer=sealer)
        self._created.append(database)
        return database

    async def close(self) -> None:
        for database in self._created:
            await database.stop()


@asynccontextmanager
async def isolated_target(backend: str, directory: Path) -> AsyncIterator[DatabaseTarget]:
    """A ``DatabaseTarget`` for ``backend``; skips the test when PostgreSQL is not configured."""
    if backend == "sqlite":
        target = DatabaseTarget(backend, f"sqlite+aiosqlite:///{directory / 'store.sqlite3'}")
        try:
            yield target
        finally:
            await target.close()
        return
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set; PostgreSQL store tests need it (CI sets it)")
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_async_engine(Database(url).url, poolclass=NullPool)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        target = DatabaseTarget(backend, url, schema)
        try:
            yield target
        finally:
            await target.close()
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture(params=backend_params())
async def database_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    async with isolated_target(request.param, tmp_path) as target:
        yield target


@pytest.fixture
async def database(database_target: DatabaseTarget) -> Database:
    """A started (migrated) ``Database`` on each backend; its target stops it."""
    database = database_target.create()
    await database.start()
    return database


@asynccontextmanager
async def fresh_postgres_database(purpose: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for a command-line test (a ``checkin`` process takes its URL from
    config, so a schema would not do); dropped afterwards. Skips without PostgreSQL."""
    base = postgres_url()
    if base is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set; {purpose} needs PostgreSQL (CI sets it)")
    name = f"checkin_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(Database(base).url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(params=backend_params())
async def cli_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL for ``checkin`` subprocesses, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
        return
    async with fresh_postgres_database("this command-line test") as url:
        yield url
