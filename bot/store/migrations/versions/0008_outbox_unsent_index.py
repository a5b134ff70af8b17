"""The outbox's lease indexes hold only unsent rows, so leasing reads neither the sent history nor the whole queue.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unsent_recipient",
        "outbox",
        ["platform", "recipient", "id"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )
    op.create_index("ix_outbox_unsent", "outbox", ["id"], sqlite_where=UNSENT, postgresql_where=UNSENT)
    op.drop_index("ix_outbox_platform_recipient_id", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_platform_recipient_id", "outbox", ["platform", "recipient", "id"])
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_index("ix_outbox_unsent_recipient", table_name="outbox")
