"""An index of each client's check-ins holding every column the dashboard's history versions read.

The practice page asks, on every load, whether each client's history moved (count, newest id, finished count,
latest activity and completion per client). Without this index that read walks every check-in row of the
coach's clients, and a row carries the questions it asked (a few kilobytes of JSON before the timestamps), so
it grows with the history; with it the read stays inside the index. The slot and status also let the
newest-first windows of a client's history rank without the rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_checkins_history", "checkins", ["client_id", "slot", "status", "last_activity_at", "completed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_checkins_history", table_name="checkins")
