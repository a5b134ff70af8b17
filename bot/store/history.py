"""A client's check-in history read from the store, in the shape the detectors and the charts share.

Kept apart from ``checkins`` and ``answers`` because it only reads and builds ``HistoryEntry`` values: the
runtime's transactional queries stay where they are and this module can change with what the readers need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from statistics import fmean
from typing import cast, get_args

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.signals.history import AlertMark, HistoryEntry, HistoryStatus
from bot.store.database import sealer_of
from bot.store.models import Alert, Answer, CheckIn
from bot.store.sealed import open_text

#: Check-ins that are over; open or failed ones say nothing yet about the relationship.
HISTORY_STATUSES: tuple[HistoryStatus, ...] = get_args(HistoryStatus)


async def client_history(session: AsyncSession, client_id: str, *, limit: int = 26) -> list[HistoryEntry]:
    """The client's last ``limit`` finished check-ins, oldest first, with their answers.

    A per-goal question (``progress``) becomes the mean over the goals answered, so every reader sees one
    number per question whatever the number of goals. The default of 26 is half a year of weekly check-ins.
    """
    return (await client_histories(session, [client_id], limit=limit)).get(client_id, [])


async def client_histories(
    session: AsyncSession, client_ids: Collection[str], *, limit: int = 26
) -> dict[str, list[HistoryEntry]]:
    """``client_history`` for many clients in two queries (a page of a coach's clients, ``checkin status``);
    a client without finished check-ins has no key."""
    if not client_ids:
        return {}
    newest = (
        sa.select(
            CheckIn.id,
            sa.func.row_number()
            .over(partition_by=CheckIn.client_id, order_by=(CheckIn.slot.desc(), CheckIn.id.desc()))
            .label("rank"),
        )
        # The status is compared as text so that SQLite searches by client (the unique client + slot index)
        # rather than by status, which nearly every check-in shares: 300 ms instead of 1 at 50,000 check-ins.
        .where(
            CheckIn.client_id.in_(client_ids),
            sa.cast(CheckIn.status, sa.String()).in_([str(status) for status in HISTORY_STATUSES]),
        )
        .subquery()
    )
    # Columns, not entities: the conversation state (JSON) is not needed and costs the most to load.
    checkins = (
        await session.execute(
            sa.select(
                CheckIn.id, CheckIn.client_id, CheckIn.slot, CheckIn.status, CheckIn.sent_at, CheckIn.completed_at
            )
            .join(newest, newest.c.id == CheckIn.id)
            .where(newest.c.rank <= limit)
            .order_by(CheckIn.client_id, CheckIn.slot, CheckIn.id)
        )
    ).all()
    values: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    texts: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    if checkins:
        sealer = sealer_of(session)
        # Columns, not entities: an Answer already in the session may hold its opened text, which must not be
        # opened a second time.
        answers = await session.execute(
            sa.select(Answer.id, Answer.checkin_id, Answer.question_id, Answer.value, Answer.text)
            .where(Answer.checkin_id.in_([c.id for c in checkins]))
            .order_by(Answer.answered_at, Answer.id)
        )
        for answer_id, checkin_id, question_id, value, stored in answers:
            if value is not None:
                values[checkin_id][question_id].append(value)
            if text := open_text(sealer, stored, f"answer {answer_id}"):
                texts[checkin_id][question_id].append(text)
    histories: dict[str, list[HistoryEntry]] = defaultdict(list)
    for checkin in checkins:
        histories[checkin.client_id].append(
            HistoryEntry(
                client_id=checkin.client_id,
                at=checkin.slot,
                # The query admits only history statuses.
                status=cast(HistoryStatus, checkin.status),
                scores={question: fmean(given) for question, given in values[checkin.id].items()},
                texts={question: "\n".join(given) for question, given in texts[checkin.id].items()},
                sent_at=checkin.sent_at,
                completed_at=checkin.completed_at,
            )
        )
    return dict(histories)


async def alert_marks(session: AsyncSession, client_id: str, *, since: datetime | None = None) -> list[AlertMark]:
    """When the client's alerts were raised and how severe, oldest first; ``since`` keeps a chart to its own
    time range."""
    query = sa.select(Alert.created_at, Alert.severity).where(Alert.client_id == client_id)
    if since is not None:
        query = query.where(Alert.created_at >= since)
    rows = await session.execute(query.order_by(Alert.created_at, Alert.id))
    return [AlertMark(at, severity) for at, severity in rows]
