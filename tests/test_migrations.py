"""The hand-written migrations must build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from bot.store import Base, Database, alembic_config

if TYPE_CHECKING:
    from conftest import DatabaseTarget


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(_schema_diff)
    assert diff == []


async def test_downgrade_to_base_and_back(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    assert tables == ["alembic_version"]
    await database.upgrade()
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_concurrent_starts_on_a_fresh_database_both_succeed(database_target: DatabaseTarget) -> None:
    replicas = [database_target.create() for _ in range(2)]
    await asyncio.gather(*(replica.start() for replica in replicas))
    for replica in replicas:
        async with replica.session() as session:
            versions = (await session.scalars(sa.text("SELECT version_num FROM alembic_version"))).all()
        assert versions == ["0003"]


def test_schema_is_only_accepted_for_postgresql() -> None:
    with pytest.raises(ValueError, match="only be given for PostgreSQL"):
        Database("sqlite+aiosqlite:///x.sqlite3", schema="t_x")
    with pytest.raises(ValueError, match="invalid schema name"):
        Database("postgresql+asyncpg://localhost/db", schema='x"; DROP')


async def test_a_database_at_the_first_revision_is_upgraded_with_its_rows(database: Database) -> None:
    """A practice that ran the first release keeps its people when the bot starts on a newer schema."""
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0001"))
        await conn.execute(
            sa.text(
                "INSERT INTO coaches (id, name, timezone, digest, active, updated_at) "
                "VALUES ('maya', 'Maya', 'UTC', 'weekly', true, CURRENT_TIMESTAMP)"
            )
        )
    await database.upgrade()
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
        assert (await conn.execute(sa.text("SELECT id FROM coaches"))).scalars().all() == ["maya"]
        assert (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all() == ["0003"]
