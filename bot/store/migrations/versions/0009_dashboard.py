"""The coach's dashboard: one-time sign-in links and browser sessions, both stored as hashes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_links",
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("coach_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["coaches.id"], name="fk_dashboard_links_coach_id_coaches", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dashboard_links"),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(), nullable=False),
        sa.Column("coach_id", sa.String(), nullable=True),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["coaches.id"], name="fk_dashboard_sessions_coach_id_coaches", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id_hash", name="pk_dashboard_sessions"),
    )


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_links")
