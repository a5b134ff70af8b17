"""Outbox rows and inbound event ids name the person they belong to (outbox and processed_events gain
person_kind and person_id), and a check-in keeps the questions it asks (checkins.questions).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03

Erasure and ``stop`` used to find a person's messages by the text of an address, which misses a Slack client
configured by e-mail (written to at ``email:<address>``, answered at the user id their replies come from).
Existing outbox rows are backfilled where the person can be derived: the payload's audience says client or
coach, and the recipient is a console id or one of that person's identities. Event ids cannot be traced back
and stay unnamed (the retention purge removes them within days).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("outbox", "processed_events")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("person_kind", sa.String(), nullable=True))
        op.add_column(table, sa.Column("person_id", sa.String(), nullable=True))
        op.create_index(f"ix_{table}_person_kind_person_id", table, ["person_kind", "person_id"])
    _backfill_outbox()
    op.add_column(
        "checkins",
        sa.Column(
            "questions",
            sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
            nullable=True,
        ),
    )


def _backfill_outbox() -> None:
    bind = op.get_bind()
    named: dict[tuple[str, str, str], str] = {}
    for kind, person_id, platform, identity_kind, value in bind.execute(
        sa.text("SELECT person_kind, person_id, platform, kind, value FROM identities ORDER BY person_id DESC")
    ):
        # Lowest person id wins, as the bot's own lookups do; e-mail addresses compare without case.
        recipient = f"email:{value.lower()}" if identity_kind == "email" else value
        named[(kind, platform, recipient)] = person_id
    people = {
        kind: {row[0] for row in bind.execute(sa.text(f"SELECT id FROM {table}"))}
        for kind, table in (("client", "clients"), ("coach", "coaches"))
    }
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("platform", sa.String()),
        sa.column("recipient", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("person_kind", sa.String()),
        sa.column("person_id", sa.String()),
    )
    changes = []
    for row_id, platform, recipient, payload in bind.execute(
        sa.select(outbox.c.id, outbox.c.platform, outbox.c.recipient, outbox.c.payload)
    ):
        kind = "coach" if (payload or {}).get("audience") == "coach" else "client"
        address = recipient.lower() if recipient.startswith("email:") else recipient
        person = (
            recipient if platform == "console" and recipient in people[kind] else named.get((kind, platform, address))
        )
        if person is not None:
            changes.append({"row_id": row_id, "kind": kind, "person": person})
    if changes:
        bind.execute(
            sa.update(outbox)
            .where(outbox.c.id == sa.bindparam("row_id"))
            .values(person_kind=sa.bindparam("kind"), person_id=sa.bindparam("person")),
            changes,
        )


def downgrade() -> None:
    # In place on SQLite (3.35+): copying checkins would delete, by cascade, every answer.
    with op.batch_alter_table("checkins", recreate="never") as batch:
        batch.drop_column("questions")
    for table in _TABLES:
        op.drop_index(f"ix_{table}_person_kind_person_id", table_name=table)
        with op.batch_alter_table(table, recreate="never") as batch:  # in place on SQLite, its index gone
            batch.drop_column("person_id")
            batch.drop_column("person_kind")
