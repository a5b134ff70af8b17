"""Database fixtures: every store test runs on SQLite and on PostgreSQL (DESIGN §9).

PostgreSQL is the one named by ``CHECKIN_TEST_DATABASE_URL``, or else the local default
(``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) when it answers. Without one the PostgreSQL cases skip
and say why, except under CI (``CI`` set), where a missing server fails them: CI must not pass by skipping.

PostgreSQL tests each get a schema of their own, so they can run against a shared database, in parallel
workers too, without seeing each other's rows and leave nothing behind.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.store import Database
from bot.store.sealing import PLAIN, Sealer
from bot.timing.clock import ManualClock
from tests.fakes import CollectingAdapter
from tests.support.practice import SLOT

# Property tests: a few dozen examples each in `make test`; `HYPOTHESIS_PROFILE=thorough` (or `make test-thorough`)
# tries many more, for a change to the code they cover. Tests set no example counts of their own.
settings.register_profile("fast", max_examples=30)
settings.register_profile("thorough", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

POSTGRES_URL_ENV = "CHECKIN_TEST_DATABASE_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


@functools.cache
def postgres_url() -> str | None:
    """The PostgreSQL to test on: the one named in the environment, or the local default if it answers."""
    named = os.environ.get(POSTGRES_URL_ENV)
    if named:
        return named
    url = make_url(DEFAULT_POSTGRES_URL)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2).close()
    except OSError:
        return None
    return DEFAULT_POSTGRES_URL


def require_postgres(purpose: str) -> str:
    """The PostgreSQL URL; without one, skips the test with the reason, or fails it under CI."""
    url = postgres_url()
    if url is not None:
        return url
    reason = f"{purpose} needs PostgreSQL: nothing answers at {DEFAULT_POSTGRES_URL} and {POSTGRES_URL_ENV} is not set"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs every PostgreSQL case)", pytrace=False)
    pytest.skip(reason)


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
    """A ``DatabaseTarget`` for ``backend``; skips the test when there is no PostgreSQL (fails under CI)."""
    if backend == "sqlite":
        target = DatabaseTarget(backend, f"sqlite+aiosqlite:///{directory / 'store.sqlite3'}")
        try:
            yield target
        finally:
            await target.close()
        return
    url = require_postgres("this store test")
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
    config, so a schema would not do); dropped afterwards. Skips without PostgreSQL (fails under CI)."""
    base = require_postgres(purpose)
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


# ---- the shared stand-ins ------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    """Time as the test sets it, starting at ``SLOT``: a check-in of the practice is due."""
    return ManualClock(SLOT)


@pytest.fixture
def slack() -> CollectingAdapter:
    """A platform named slack that records what it is asked to send."""
    return CollectingAdapter("slack")


# ---- tiers ----------------------------------------------------------------------------------------------
#
# Every test is in one tier, so `make test-fast` can run the quick ones alone:
#   unit         no database server, no subprocess, no network socket (SQLite files and in-memory work only);
#   integration  a database on each backend, or fake servers and real clients on 127.0.0.1, all in-process;
#   process      starts `checkin` (or another program) as a subprocess.
# The drawing process (``bot.signals.drawing``) is not counted: it is the bot's own helper, started once per test
# process at its first chart (multiprocessing, not ``subprocess``) and shared by every test after it.
# A module or test says ``process`` or ``integration`` with a mark; a test that asks for a database fixture
# is ``integration``; the rest are ``unit``. The tier is enforced while the test runs (set-up and tear-down
# too): a unit test that opens a network socket, or a non-process test that starts a subprocess, fails and
# says which mark it needs; so does a process test that passes without starting one.

TIERS = ("unit", "integration", "process")
DATABASE_FIXTURES = frozenset({"database_target", "database", "cli_database_url"})


def tier_of(item: pytest.Item) -> str:
    marked = {mark.name for mark in item.iter_markers()} & {"integration", "process"}
    if "process" in marked:
        return "process"
    if marked or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "integration"
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(tier)


class TierBreach(AssertionError):
    """A test did what its tier rules out."""


#: Whether the running test started a subprocess (set-up included).
STARTED_A_PROCESS = pytest.StashKey[list[bool]]()


def _refuse(what: str, needed: str) -> Callable[..., object]:
    def refuse(*args: object, **kwargs: object) -> object:
        raise TierBreach(f"{what}: mark the test or its module `pytest.mark.{needed}` (see tests/conftest.py)")

    return refuse


def _noting(original: Callable[..., object], started: list[bool]) -> Callable[..., object]:
    def note(*args: object, **kwargs: object) -> object:
        started.append(True)
        return original(*args, **kwargs)

    return note


def _network_only(original: Callable[..., object], what: str) -> Callable[..., object]:
    def guarded(self: socket.socket, *args: object, **kwargs: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise TierBreach(f"a unit test {what} a network socket: mark it `pytest.mark.integration`")
        return original(self, *args, **kwargs)

    return guarded


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    tier = tier_of(item)
    started = item.stash[STARTED_A_PROCESS] = []
    with pytest.MonkeyPatch.context() as patch:
        execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]
        if tier == "process":
            patch.setattr(subprocess.Popen, "_execute_child", _noting(execute_child, started))
        else:
            patch.setattr(subprocess.Popen, "_execute_child", _refuse("a subprocess was started", "process"))
        if tier == "unit":
            for name, what in (("connect", "connected"), ("connect_ex", "connected"), ("bind", "bound")):
                patch.setattr(socket.socket, name, _network_only(getattr(socket.socket, name), what))
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A process test that passed without starting one (say, a command now run in-process) belongs in a
    faster tier: it fails, naming the mark to drop."""
    yield
    if tier_of(item) == "process" and not item.stash[STARTED_A_PROCESS]:
        raise TierBreach("a process test started no subprocess: drop its `pytest.mark.process`")
