"""Telegram invites keep only a hash of their token, can be revoked, and say whether they may re-bind.

Existing tokens are replaced by their SHA-256 in place, so links already sent keep working (the bot hashes
what it is given) while the database no longer holds anything that redeems them. A downgrade cannot bring
the tokens back: the rows keep their hashes, so links issued before it stop working.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place on both backends (SQLite renames a column without rebuilding the table).
    with op.batch_alter_table("telegram_invites", recreate="never") as batch:
        batch.alter_column("token", new_column_name="token_hash")
    invites = sa.table("telegram_invites", sa.column("token_hash", sa.String()))
    connection = op.get_bind()
    for (token,) in connection.execute(sa.select(invites.c.token_hash)).all():
        connection.execute(
            invites.update()
            .where(invites.c.token_hash == token)
            .values(token_hash=hashlib.sha256(token.encode()).hexdigest())
        )
    op.add_column("telegram_invites", sa.Column("rebind", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("telegram_invites", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_invites", recreate="never") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("rebind")
        batch.alter_column("token_hash", new_column_name="token")
