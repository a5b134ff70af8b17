"""People's platform identities move to one table: identities (a new platform needs rows, not columns).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

The Slack user ids and e-mail addresses and the Telegram chat ids of coaches and clients are copied into
``identities``, then their columns go. On SQLite the columns are dropped in place (batch mode that never
recreates the table): rebuilding ``clients`` would drop the old table, and with foreign keys on (the bot turns
them on for every connection, and a pragma cannot change inside the migration's transaction) dropping it
deletes its rows first, cascading to every check-in, answer and alert. SQLite drops a column in place since
3.35 as long as no index names it, so the indexes go first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, person kind, column, platform, identity kind) for every per-platform column there was.
_COLUMNS = (
    ("coaches", "coach", "slack_user_id", "slack", "user_id"),
    ("coaches", "coach", "slack_email", "slack", "email"),
    ("coaches", "coach", "telegram_chat_id", "telegram", "chat_id"),
    ("clients", "client", "slack_user_id", "slack", "user_id"),
    ("clients", "client", "slack_email", "slack", "email"),
    ("clients", "client", "telegram_chat_id", "telegram", "chat_id"),
)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_kind", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint(
            "person_kind", "person_id", "platform", "kind", name="uq_identities_person_kind_person_id_platform_kind"
        ),
    )
    op.create_index("ix_identities_platform_kind_value", "identities", ["platform", "kind", "value"])
    for table, person_kind, column, platform, kind in _COLUMNS:
        value = f"CAST({column} AS VARCHAR)" if column == "telegram_chat_id" else column
        op.execute(
            sa.text(
                "INSERT INTO identities (person_kind, person_id, platform, kind, value) "
                f"SELECT :person_kind, id, :platform, :kind, {value} FROM {table} "
                f"WHERE {column} IS NOT NULL ORDER BY id"
            ).bindparams(person_kind=person_kind, platform=platform, kind=kind)
        )
    op.drop_index("ix_clients_platform_slack_user_id", table_name="clients")
    op.drop_index("ix_clients_telegram_chat_id", table_name="clients")
    for table in ("coaches", "clients"):
        with op.batch_alter_table(table, recreate="never") as batch:
            for column in ("slack_user_id", "slack_email", "telegram_chat_id"):
                batch.drop_column(column)


def downgrade() -> None:
    for table in ("coaches", "clients"):
        op.add_column(table, sa.Column("slack_user_id", sa.String(), nullable=True))
        op.add_column(table, sa.Column("slack_email", sa.String(), nullable=True))
        op.add_column(table, sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True))
    for table, person_kind, column, platform, kind in _COLUMNS:
        value = "CAST(identities.value AS BIGINT)" if column == "telegram_chat_id" else "identities.value"
        op.execute(
            sa.text(
                f"UPDATE {table} SET {column} = (SELECT {value} FROM identities "
                f"WHERE identities.person_kind = :person_kind AND identities.person_id = {table}.id "
                "AND identities.platform = :platform AND identities.kind = :kind)"
            ).bindparams(person_kind=person_kind, platform=platform, kind=kind)
        )
    op.create_index("ix_clients_platform_slack_user_id", "clients", ["platform", "slack_user_id"])
    op.create_index("ix_clients_telegram_chat_id", "clients", ["telegram_chat_id"])
    op.drop_index("ix_identities_platform_kind_value", table_name="identities")
    op.drop_table("identities")
