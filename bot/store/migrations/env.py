"""Alembic environment: online only, on the connection ``Database.upgrade()`` hands over.

The caller already holds the transaction (and on PostgreSQL the migration advisory lock), so this
file must not open its own connection or commit.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.store.models import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "checkin-bot migrations run through bot.store.Database.upgrade(), which passes a "
            "connection in config.attributes['connection']; offline (--sql) mode is not supported"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
