"""``checkin rekey``: bring every stored free-text value under the first key of ``CHECKIN_ENCRYPTION_KEY``.

It walks the fields ``bot.store.sealed`` names, a batch of rows per transaction (rows locked while they are
rewritten, so it can run beside the bot), seals plain values and re-encrypts values sealed under an older key.
A value already under the first key is left alone, so a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bot.store.database import Database
from bot.store.models import Alert, Answer, CoachWaiting, OutboxMessage
from bot.store.sealed import PAYLOAD_TEXT, SIGNAL_TEXT
from bot.store.sealing import SEALED, Sealer, UnreadableSealError

DEFAULT_BATCH = 500


@dataclass(slots=True)
class FieldReport:
    """What one field's values needed: ``sealed`` were plain, ``resealed`` were under an older key."""

    name: str
    sealed: int = 0
    resealed: int = 0
    current: int = 0
    unreadable: int = 0

    def count(self, stored: str, sealer: Sealer) -> str | None:
        """The new stored value (``None`` when it stays), counted."""
        try:
            new = sealer.reseal(stored)
        except UnreadableSealError:
            self.unreadable += 1
            return None
        if new is None:
            self.current += 1
        elif stored.startswith(SEALED):
            self.resealed += 1
        else:
            self.sealed += 1
        return new


Rewrite = Callable[[Any, Sealer, FieldReport], Any | None]


def _text(stored: str, sealer: Sealer, report: FieldReport) -> str | None:
    return report.count(stored, sealer)


def _payload(stored: dict[str, Any], sealer: Sealer, report: FieldReport) -> dict[str, Any] | None:
    text = stored.get(PAYLOAD_TEXT)
    if not isinstance(text, str) or (new := report.count(text, sealer)) is None:
        return None
    return {**stored, PAYLOAD_TEXT: new}


def _signals(stored: list[dict[str, Any]], sealer: Sealer, report: FieldReport) -> list[dict[str, Any]] | None:
    changed = False
    signals: list[dict[str, Any]] = []
    for signal in stored:
        reason = signal.get(SIGNAL_TEXT)
        new = report.count(reason, sealer) if isinstance(reason, str) else None
        signals.append(signal if new is None else {**signal, SIGNAL_TEXT: new})
        changed = changed or new is not None
    return signals if changed else None


def _table(entity: type[Any]) -> sa.Table:
    table = entity.__table__
    assert isinstance(table, sa.Table)
    return table


#: (report name, table, column, rewrite): every stored field that holds free text.
FIELDS: tuple[tuple[str, sa.Table, str, Rewrite], ...] = (
    ("answer texts", _table(Answer), "text", _text),
    ("alert reasons", _table(Alert), "signals", _signals),
    ("outbox messages", _table(OutboxMessage), "payload", _payload),
    ("messages waiting for a coach", _table(CoachWaiting), "payload", _payload),
)


async def rekey(database: Database, *, batch: int = DEFAULT_BATCH) -> list[FieldReport]:
    """Re-encrypt every stored free-text value with ``database.sealer``'s first key; one report per field."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    reports = []
    for name, table, column, rewrite in FIELDS:
        report = FieldReport(name)
        last_id = 0
        while True:
            async with database.transaction() as session:
                rows = (
                    await session.execute(
                        sa.select(table.c.id, table.c[column])
                        .where(table.c.id > last_id, table.c[column].is_not(None))
                        .order_by(table.c.id)
                        .limit(batch)
                        .with_for_update()
                    )
                ).all()
                changes = [
                    {"row_id": row_id, "new": new}
                    for row_id, stored in rows
                    if (new := rewrite(stored, database.sealer, report)) is not None
                ]
                if changes:
                    await session.execute(
                        sa.update(table)
                        .where(table.c.id == sa.bindparam("row_id"))
                        .values({column: sa.bindparam("new", type_=table.c[column].type)}),
                        changes,
                    )
            if len(rows) < batch:
                break
            last_id = rows[-1][0]
        reports.append(report)
    return reports
