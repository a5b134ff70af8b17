"""Engine, sessions and schema migrations for SQLite (one process) and PostgreSQL (many replicas).

Migrations run from code at start-up rather than from an ``alembic`` command line so an installed
wheel needs no ``alembic.ini`` and an operator cannot forget the step. Alembic itself is imported only when the
schema is behind: importing it cost about 0.15 s and 11 MB of every start, nearly all of which find the schema at
head already.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from bot.store.sealing import PLAIN, Sealer

if TYPE_CHECKING:
    from alembic.config import Config

#: The transaction a caller holds and passes back into the store's queries; outside the store it is opaque,
#: so code above the store names it without importing SQLAlchemy.
Session: TypeAlias = AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Each revision's file is named after it: ``0009_dashboard.py`` is revision ``0009``.
_REVISION_FILE = "[0-9][0-9][0-9][0-9]_*.py"

#: Where a session carries its database's ``Sealer`` (``Session.info``), for the queries that store free text.
SEALER_INFO = "checkin.sealer"
#: The execution option of a session that only reads (``Database.reading``).
READ_ONLY = "checkin_read_only"

# Arbitrary but fixed: every replica must ask for the same advisory lock so only one migrates.
MIGRATION_LOCK_KEY = 0x636B_696E  # "ckin"

# Long enough to ride out another connection's write transaction, short enough to surface a stuck one.
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: A connection attempt that gets no answer (a half-open path during an outage) frees its pool slot after this,
#: instead of after asyncpg's 60 s, so the bot reconnects soon after the database is back.
CONNECT_TIMEOUT_SECONDS = 15
#: Tries at switching a fresh file to WAL while another connection holds it (about 2 s in all).
WAL_ATTEMPTS = 8

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


#: What an unreachable or refusing database raises, for a command that reports it in one line.
UNAVAILABLE: tuple[type[Exception], ...] = (OSError, SQLAlchemyError)
#: PostgreSQL's error classes that say the server cannot be reached: 08, a connection failure; 57P, the server
#: shutting down or starting up ("the database system is starting up" for a second or two after a restart).
_UNREACHABLE_SQLSTATES = ("08", "57P")


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database is away (refused, cut off, not answering) rather than a statement failed.

    A loop that retries tells the first kind in a line while it lasts and keeps the traceback for the second,
    which is a bug to read; ``UNAVAILABLE`` is broader, for a command that reports any database error in a line.
    """
    if isinstance(error, DBAPIError):
        sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
        return (
            bool(error.connection_invalidated)
            or isinstance(error.orig, OSError)
            or sqlstate.startswith(_UNREACHABLE_SQLSTATES)
        )
    return isinstance(error, OSError | PoolTimeout)


def unavailable_reason(url: str, error: Exception) -> str:
    """``database <url without password>: <the driver's first line>`` for an ``UNAVAILABLE`` error."""
    shown = make_url(url).render_as_string(hide_password=True)
    return f"database {shown}: {driver_reason(error)}"


def driver_reason(error: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy wraps it as ``orig``), or ``""`` when it said nothing."""
    said = str(getattr(error, "orig", None) or error).strip()
    return said.splitlines()[0] if said else ""


def newest_revision() -> str:
    """The head revision, from the migrations' file names, without importing Alembic (a test checks that Alembic
    finds the same head)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob(_REVISION_FILE))


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code, optionally bound to an open connection for env.py."""
    from alembic.config import Config  # only when migrating (the module docstring says why)

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade_to_head(connection: Connection) -> None:
    if _at_head(connection):
        return
    from alembic import command  # only when migrating (the module docstring says why)

    command.upgrade(alembic_config(connection), "head")


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [newest_revision()]


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Take over transaction control from the driver (its implicit BEGIN comes too late, just before
    # the first write); the "begin" listener below issues BEGIN IMMEDIATE instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first: everything after it may have to wait for another connection.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL; when two processes open it at once, the loser finds it switched.

    Changing the journal mode needs the file to itself, and SQLite may answer "database is locked" at once
    rather than wait while another connection is mid-way through the same switch or its first migration.
    """
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as error:  # the driver's OperationalError, whichever driver wraps it
            if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _sqlite_on_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then writes (the
    # read-modify-write of a check-in, leasing outbox rows) fails with SQLITE_BUSY instead of waiting
    # when another connection wrote in between; with IMMEDIATE it waits on busy_timeout, which is what
    # SELECT ... FOR UPDATE gives on PostgreSQL. A session that only reads (``Database.reading``) begins
    # deferred, so readers do not queue behind each other for a lock they never use (WAL lets them read
    # beside a writer).
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """One engine plus its session factory; ``start()`` also brings the schema to head."""

    def __init__(self, url: str, *, schema: str | None = None, sealer: Sealer = PLAIN, **engine_kwargs: Any) -> None:
        """``schema`` (PostgreSQL only) pins ``search_path`` so tests or tenants can share a database.

        ``sealer`` seals the free text the store keeps; every session carries it (``sealer_of``), so the
        runtime and the engine never see a sealed value.
        """
        parsed = make_url(url)
        driver = _ASYNC_DRIVERS.get(parsed.drivername)
        if driver is not None:
            parsed = parsed.set(drivername=driver)
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
        if schema is not None:
            if self.dialect != "postgresql":
                raise ValueError("a schema can only be given for PostgreSQL")
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        self.sealer = sealer
        self._engine_kwargs = engine_kwargs
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.start() has not been called")
        return self._engine

    async def start(self) -> None:
        """Create the engine and migrate; safe to call from several replicas at once."""
        if self._engine is not None:
            return
        engine = create_async_engine(self.url, **self._engine_options())
        if self.dialect == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, info={SEALER_INFO: self.sealer})
        try:
            await self.upgrade()
        except BaseException:
            await self.stop()
            raise

    async def upgrade(self) -> None:
        """Bring the schema to head, one migrator at a time.

        The lock matters even inside one process: Alembic keeps its ``op``/``context`` proxies in
        module globals, so two overlapping upgrades on one event loop would trample each other.
        """
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Held until this transaction ends: replicas starting together queue here and find
                # the schema already at head once the first one commits.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade_to_head)

    async def current_revision(self) -> str | None:
        """The migration the schema is at, as Alembic names it; ``None`` for an empty database."""

        def read(connection: Connection) -> str | None:
            from alembic.runtime.migration import MigrationContext  # only when asked (the module docstring says why)

            return MigrationContext.configure(connection).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessions = None

    def session(self) -> AsyncSession:
        """A session for the caller to manage: ``async with db.session() as s: ...``."""
        if self._sessions is None:
            raise RuntimeError("Database.start() has not been called")
        return self._sessions()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads (health, metrics, the dashboard's pages): on SQLite it never takes the write
        lock, so it neither waits behind an answer being written nor makes one wait, and many can read at once.
        A write in it fails on SQLite rather than waiting its turn."""
        async with self.session() as session:
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        async with self.session() as session, session.begin():
            yield session

    def _engine_options(self) -> dict[str, Any]:
        # A database error's message would otherwise carry the statement's parameters, which can be what a
        # client wrote; errors are logged, and logs never hold answers (DESIGN §7).
        options: dict[str, Any] = {"hide_parameters": True}
        if self.dialect == "postgresql":
            options.update(
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=10,
                pool_recycle=1800,
                connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
            )
        elif self.url.database in (None, "", ":memory:"):
            # An in-memory database lives and dies with its connection, so every session must share one
            # (and so sessions on it must not overlap).
            options["poolclass"] = StaticPool
        options.update(self._engine_kwargs)
        if self.schema is not None:
            connect_args = dict(options.get("connect_args", {}))
            server_settings = dict(connect_args.get("server_settings", {}))
            server_settings["search_path"] = self.schema
            connect_args["server_settings"] = server_settings
            options["connect_args"] = connect_args
        return options


def sealer_of(session: AsyncSession) -> Sealer:
    """The sealer of the database a session came from; plain for a session made some other way."""
    sealer = session.info.get(SEALER_INFO, PLAIN)
    assert isinstance(sealer, Sealer)
    return sealer
