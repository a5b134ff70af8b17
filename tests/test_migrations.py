"""The hand-written migrations must build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from bot.store import Base, Database, alembic_config, identities
from bot.store.database import newest_revision
from bot.store.people import address_of
from tests.support.revisions import HEAD_REVISION

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
        assert versions == [HEAD_REVISION]


def test_the_head_by_file_names_is_alembics_head() -> None:
    """Start-up compares the stored revision with the newest file name so that it need not import Alembic."""
    assert newest_revision() == HEAD_REVISION


@pytest.mark.process
async def test_a_start_on_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    fresh = Database(url)
    await fresh.start()  # migrates the new file
    await fresh.stop()
    script = (
        "import asyncio, sys\n"
        "from bot.store import Database\n"
        f"database = Database({url!r})\n"
        "asyncio.run(database.start())\n"
        "print('alembic' in sys.modules)\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert (process.returncode, output.decode().strip()) == (0, "False")


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
        assert (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all() == [
            HEAD_REVISION
        ]


async def test_people_at_the_second_revision_keep_their_platform_identities(database: Database) -> None:
    """0003 moves the per-platform columns into ``identities`` without losing a value or any history.

    The check-in and goal prove the people tables were altered in place: on SQLite, rebuilding ``clients``
    with foreign keys on would have deleted the rows that refer to it.
    """
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0002"))
        for statement in (
            "INSERT INTO coaches (id, name, timezone, slack_user_id, telegram_chat_id, digest, active, updated_at) "
            "VALUES ('maya', 'Maya', 'UTC', 'UMAYA', 5550001, 'weekly', true, CURRENT_TIMESTAMP)",
            "INSERT INTO clients (id, name, coach_id, timezone, cadence, question_set, language, platform, "
            "slack_user_id, slack_email, active, created_at, updated_at) VALUES ('dana', 'Dana', 'maya', 'UTC', "
            "'weekly', 'default', 'en', 'slack', 'UDANA', 'Dana@Example.com', true, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)",
            "INSERT INTO clients (id, name, coach_id, timezone, cadence, question_set, language, platform, "
            "telegram_chat_id, active, created_at, updated_at) VALUES ('ben', 'Ben', 'maya', 'UTC', 'weekly', "
            "'default', 'en', 'telegram', -1001234567890, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO goals (client_id, id, title, active, position) VALUES ('ben', 'g1', 'Delegate', true, 0)",
            "INSERT INTO checkins (client_id, slot, status, question_set, created_at, reminders_sent) "
            "VALUES ('ben', CURRENT_TIMESTAMP, 'completed', 'default', CURRENT_TIMESTAMP, 0)",
        ):
            await conn.execute(sa.text(statement))
    await database.upgrade()
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
        rows = await conn.execute(sa.text("SELECT person_kind, person_id, platform, kind, value FROM identities"))
        assert sorted(tuple(row) for row in rows) == [
            ("client", "ben", "telegram", "chat_id", "-1001234567890"),
            ("client", "dana", "slack", "email", "Dana@Example.com"),
            ("client", "dana", "slack", "user_id", "UDANA"),
            ("coach", "maya", "slack", "user_id", "UMAYA"),
            ("coach", "maya", "telegram", "chat_id", "5550001"),
        ]
        assert (await conn.execute(sa.text("SELECT client_id FROM checkins"))).scalars().all() == ["ben"]
        assert (await conn.execute(sa.text("SELECT id FROM goals"))).scalars().all() == ["g1"]
    async with database.session() as session:
        ben = await identities.find_client_by_identity(session, "telegram", "-1001234567890")
        dana = await identities.find_client_by_identity(session, "slack", "email:dana@example.com")
        maya = await identities.find_coach_by_identity(session, "telegram", "5550001")
        assert (ben and ben.id, dana and dana.id, maya and maya.id) == ("ben", "dana", "maya")
        assert dana is not None and address_of(dana) == ("slack", "UDANA")

    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0002"))
        restored = await conn.execute(
            sa.text("SELECT id, slack_user_id, slack_email, telegram_chat_id FROM clients ORDER BY id")
        )
        assert [tuple(row) for row in restored] == [
            ("ben", None, None, -1001234567890),
            ("dana", "UDANA", "Dana@Example.com", None),
        ]
        assert (await conn.execute(sa.text("SELECT client_id FROM checkins"))).scalars().all() == ["ben"]
