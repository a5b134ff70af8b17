"""A check-in remembers that part of it was never delivered: checkins.undelivered_at and undelivered_reason.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkins", sa.Column("undelivered_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("checkins", sa.Column("undelivered_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkins") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("undelivered_reason")
        batch.drop_column("undelivered_at")
