"""A client's check-in history read from the store, in the shape the detectors and the charts share.

Kept apart from ``checkins`` and ``answers`` because it only reads and builds ``HistoryEntry`` values: the
runtime's transactional queries stay where they are and this module can change with what the readers need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import fmean
from typing import Any, cast, get_args

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.contract.statuses import CheckInStatus
from bot.signals.history import AlertMark, HistoryEntry, HistoryStatus
from bot.store.database import sealer_of
from bot.store.models import Alert, Answer, CheckIn, Client
from bot.store.sealed import open_text
from bot.store.statements import BOUND_VALUES

#: Check-ins that are over; open or failed ones say nothing yet about the relationship.
HISTORY_STATUSES: tuple[HistoryStatus, ...] = get_args(HistoryStatus)
#: Clients per ``recent_scores`` query.
SCORES_BATCH = 5_000


async def client_history(session: AsyncSession, client_id: str, *, limit: int = 26) -> list[HistoryEntry]:
    """The client's last ``limit`` finished check-ins, oldest first, with their answers.

    A per-goal question (``progress``) becomes the mean over the goals answered, so every reader sees one
    number per question whatever the number of goals. The default of 26 is half a year of weekly check-ins.
    """
    return (await client_histories(session, [client_id], limit=limit)).get(client_id, [])


async def client_histories(
    session: AsyncSession, client_ids: Collection[str], *, limit: int = 26
) -> dict[str, list[HistoryEntry]]:
    """``client_history`` for many clients in two queries per ``BOUND_VALUES // limit`` clients (a coach's
    digest); a client without finished check-ins has no key."""
    ids = list(client_ids)
    per_batch = max(1, BOUND_VALUES // limit)  # the answers are read by check-in id, up to ``limit`` a client
    histories: dict[str, list[HistoryEntry]] = {}
    for batch in range(0, len(ids), per_batch):
        histories.update(await _histories_batch(session, ids[batch : batch + per_batch], limit))
    return histories


async def _histories_batch(session: AsyncSession, client_ids: list[str], limit: int) -> dict[str, list[HistoryEntry]]:
    if not client_ids:
        return {}
    newest = (
        sa.select(
            CheckIn.id,
            sa.func.row_number()
            .over(partition_by=CheckIn.client_id, order_by=(CheckIn.slot.desc(), CheckIn.id.desc()))
            .label("rank"),
        )
        .where(CheckIn.client_id.in_(client_ids), _finished(CheckIn))
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
    written: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    if checkins:
        sealer = sealer_of(session)
        # Columns, not entities: an Answer already in the session may hold its opened text, which must not be
        # opened a second time.
        query = sa.select(Answer.id, Answer.checkin_id, Answer.question_id, Answer.value, Answer.text).where(
            Answer.checkin_id.in_([c.id for c in checkins])
        )
        for answer_id, checkin_id, question_id, value, stored in await session.execute(
            query.order_by(Answer.answered_at, Answer.id)
        ):
            if value is not None:
                values[checkin_id][question_id].append(value)
            if text := open_text(sealer, stored, f"answer {answer_id}"):
                written[checkin_id][question_id].append(text)
    histories: dict[str, list[HistoryEntry]] = defaultdict(list)
    for checkin in checkins:
        histories[checkin.client_id].append(
            HistoryEntry(
                client_id=checkin.client_id,
                at=checkin.slot,
                # The query admits only history statuses.
                status=cast(HistoryStatus, checkin.status),
                scores={question: fmean(given) for question, given in values[checkin.id].items()},
                texts={question: "\n".join(given) for question, given in written[checkin.id].items()},
                sent_at=checkin.sent_at,
                completed_at=checkin.completed_at,
            )
        )
    return dict(histories)


async def recent_scores(
    session: AsyncSession, client_ids: Collection[str], *, limit: int
) -> dict[str, list[HistoryEntry]]:
    """Each client's last ``limit`` finished check-ins, oldest first, with their scale answers only: when, how
    it ended, and ``scores`` (``texts``, ``sent_at`` and ``completed_at`` left empty). What the practice page
    draws for twenty clients at once, in one query of one row per check-in, built once and run on the session's
    connection: loading a row per answer through the ORM, times turned into datetimes on each, cost more than
    the query itself. A client without finished check-ins has no key."""
    if not client_ids:
        return {}
    histories: dict[str, list[HistoryEntry]] = defaultdict(list)
    for client_id, slot, status, answered in await _per_client_batches(session, _SCORES, client_ids, limit):
        histories[client_id].append(HistoryEntry(client_id, slot, cast(HistoryStatus, status), _scores(answered)))
    return dict(histories)


@dataclass(frozen=True, slots=True)
class RecentGlance:
    """What a client's row in `checkin status` needs of their last finished check-ins: the response rate's two
    counts, and the newest two completed check-ins with their scale answers (oldest first) for the trend arrow,
    which compares the last two that carry an index."""

    completed: int
    #: Completed or expired; a skipped check-in is in the window but not in the rate.
    finished: int
    latest: list[HistoryEntry]


async def recent_glances(session: AsyncSession, client_ids: Collection[str], *, limit: int) -> dict[str, RecentGlance]:
    """Per client, ``RecentGlance`` over their last ``limit`` finished check-ins, in one row per client (two when
    both latest check-ins are in the window): the counts are taken in the database, and only two check-ins'
    answers are read, where ``recent_scores`` turns every check-in of the window into a Python object (at
    10,000 clients with ten each, the objects cost more than the query). A client without finished check-ins
    has zero counts."""
    if not client_ids:
        return {}
    glances: dict[str, RecentGlance] = {}
    for client_id, completed, finished, slot, answered in await _per_client_batches(
        session, _GLANCES, client_ids, limit
    ):
        glance = glances.setdefault(client_id, RecentGlance(completed, finished, []))
        if slot is not None:
            glance.latest.append(HistoryEntry(client_id, slot, CheckInStatus.COMPLETED, _scores(answered)))
    return glances


async def _per_client_batches(
    session: AsyncSession, statement: Any, client_ids: Collection[str], limit: int
) -> list[Any]:
    """The rows of a built-once statement over the clients' last ``limit`` finished check-ins, run on the
    session's connection ``SCORES_BATCH`` clients at a time."""
    await session.flush()  # the connection does not autoflush: a check-in just finished must be in it
    connection = await session.connection()
    ids = list(client_ids)
    return [
        row
        for batch in range(0, len(ids), SCORES_BATCH)
        # ``all()``: iterating a result fetches row by row through the async adapter, 6 µs a row.
        for row in (
            await connection.execute(statement, {"client_ids": ids[batch : batch + SCORES_BATCH], "skip": limit - 1})
        ).all()
    ]


def _scores(answered: str | None) -> dict[str, float]:
    """ "hope 4,trust 2,..." -> {"hope": 4.0, ...}; a question answered more than once (progress, per goal) gets
    the mean. Every question appears once in nearly every check-in, so that case is tested for, not assumed."""
    if not answered:
        return {}
    pairs = [pair.partition(" ") for pair in answered.split(",")]
    scores = {question: float(value) for question, _, value in pairs}
    if len(scores) == len(pairs):
        return scores
    values: dict[str, list[int]] = defaultdict(list)
    for question, _, value in pairs:
        values[question].append(int(value))
    return {question: fmean(given) for question, given in values.items()}


async def listed_history(session: AsyncSession, client_id: str, *, limit: int) -> list[HistoryEntry]:
    """The client's last ``limit`` finished check-ins, oldest first, as a client page lists them: when, how it
    ended, scores and written answers (``sent_at`` and ``completed_at`` left empty, the page shows neither).

    One built-once query of the columns shown, run on the session's connection: sixty check-ins' answers loaded
    through the ORM, with every check-in's timestamps, cost more than the query itself."""
    await session.flush()  # the connection does not autoflush: a check-in just finished must be in it
    connection = await session.connection()
    sealer = sealer_of(session)
    entries: list[HistoryEntry] = []
    last: tuple[int, datetime, HistoryStatus] | None = None
    values: dict[str, list[int]] = defaultdict(list)
    written: dict[str, list[str]] = defaultdict(list)
    for checkin_id, slot, status, answer_id, question_id, value, stored in await connection.execute(
        _LISTED, {"client_id": client_id, "skip": limit - 1}
    ):
        if last is None or checkin_id != last[0]:
            if last is not None:
                entries.append(_listed_entry(client_id, last, values, written))
            last, values, written = (checkin_id, slot, status), defaultdict(list), defaultdict(list)
        if value is not None:
            values[question_id].append(value)
        if text := open_text(sealer, stored, f"answer {answer_id}"):
            written[question_id].append(text)
    if last is not None:
        entries.append(_listed_entry(client_id, last, values, written))
    return entries


def _listed_entry(
    client_id: str,
    checkin: tuple[int, datetime, HistoryStatus],
    values: Mapping[str, list[int]],
    written: Mapping[str, list[str]],
) -> HistoryEntry:
    return HistoryEntry(
        client_id=client_id,
        at=checkin[1],
        status=checkin[2],
        scores={question: fmean(given) for question, given in values.items()},
        texts={question: "\n".join(given) for question, given in written.items()},
    )


def _listed_statement() -> Any:
    """``listed_history``'s query: the client's check-ins from their ``limit``-th newest finished one on (found in
    the index of 0010), a row per answer in the order given, a check-in without answers as one row."""
    return (
        sa.select(CheckIn.id, CheckIn.slot, CheckIn.status, Answer.id, Answer.question_id, Answer.value, Answer.text)
        .outerjoin(Answer, Answer.checkin_id == CheckIn.id)
        .where(
            CheckIn.client_id == sa.bindparam("client_id"),
            CheckIn.slot >= _since(sa.bindparam("client_id")),
            _finished(CheckIn),
        )
        .order_by(CheckIn.slot, Answer.answered_at, Answer.id)
    )


def _since(client_id: sa.ColumnExpressionArgument[str]) -> sa.ColumnElement[datetime]:
    """The slot of the client's ``skip``+1-th newest finished check-in (slots are unique per client), found in
    the index of 0010 by walking ``skip``+1 entries; the earliest time for a client with fewer check-ins."""
    older = aliased(CheckIn)
    floor = (
        sa.select(older.slot)
        .where(older.client_id == client_id, _finished(older))
        .order_by(older.slot.desc())
        .limit(1)
        .offset(sa.bindparam("skip", type_=sa.Integer()))
        .scalar_subquery()
    )
    return _or_earliest(floor)


def _or_earliest(slot: sa.ScalarSelect[datetime]) -> sa.ColumnElement[datetime]:
    """A slot looked up, or the earliest time when there is none, so that ``>=`` it admits every check-in."""
    return sa.func.coalesce(slot, sa.literal(datetime(1, 1, 1, tzinfo=UTC), CheckIn.slot.type))


def _scores_statement() -> Any:
    """``recent_scores``'s query. Per client, the slot of their ``limit``-th newest finished check-in is looked
    up in the index of 0010, and their check-ins from it on are read from the same index: ten entries a client,
    where numbering every check-in with a window function read all fifty."""
    shown = sa.and_(CheckIn.client_id == Client.id, CheckIn.slot >= _since(Client.id), _finished(CheckIn))
    return (
        sa.select(CheckIn.client_id, CheckIn.slot, CheckIn.status, _answered())
        .join_from(Client, CheckIn, shown)
        .where(Client.id.in_(sa.bindparam("client_ids", expanding=True)))
        .order_by(CheckIn.client_id, CheckIn.slot)
    )


def _glances_statement() -> Any:
    """``recent_glances``'s query. Per client, two slots are looked up in the index of 0010: where their window
    of ``skip``+1 finished check-ins begins, and their second newest completed check-in. The counts are taken
    over the window; the check-ins from the later of the two slots on that completed are joined with their scale
    answers, as in ``recent_scores``."""
    completed = _completed(CheckIn)
    older = aliased(CheckIn)
    second_newest = (
        sa.select(older.slot)
        .where(older.client_id == Client.id, _completed(older))
        .order_by(older.slot.desc())
        .limit(1)
        .offset(1)
        .scalar_subquery()
    )
    bounds = (
        sa.select(
            Client.id.label("client_id"),
            _since(Client.id).label("since"),
            _or_earliest(second_newest).label("latest_since"),
        )
        .where(Client.id.in_(sa.bindparam("client_ids", expanding=True)))
        .subquery("bounds")
    )
    in_window = sa.and_(CheckIn.client_id == bounds.c.client_id, CheckIn.slot >= bounds.c.since)

    def counted(which: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        return sa.select(sa.func.count()).where(in_window, which).correlate(bounds).scalar_subquery()

    finished = sa.cast(CheckIn.status, sa.String()).in_([CheckInStatus.COMPLETED, CheckInStatus.EXPIRED])
    latest = sa.and_(in_window, CheckIn.slot >= bounds.c.latest_since, completed)
    return (
        sa.select(bounds.c.client_id, counted(completed), counted(finished), CheckIn.slot, _answered())
        .select_from(bounds.outerjoin(CheckIn, latest))
        .order_by(bounds.c.client_id, CheckIn.slot)
    )


def _answered() -> sa.ScalarSelect[str]:
    """A check-in's scale answers as one string of "question value" pairs (question ids hold no space)."""
    pair = Answer.question_id + " " + sa.cast(Answer.value, sa.String())
    return (
        sa.select(sa.func.aggregate_strings(pair, ","))
        .where(Answer.checkin_id == CheckIn.id, Answer.value.is_not(None))
        .correlate(CheckIn)
        .scalar_subquery()
    )


def _completed(checkins: type[CheckIn]) -> sa.ColumnElement[bool]:
    """Compared as text, as in ``_finished``, so that SQLite searches by client rather than by status."""
    return sa.cast(checkins.status, sa.String()) == str(CheckInStatus.COMPLETED)


def _finished(checkins: type[CheckIn]) -> sa.ColumnElement[bool]:
    """A check-in in the history. The status is compared as text so that SQLite searches by client (the unique
    client + slot index) rather than by status, which nearly every check-in shares: 300 ms instead of 1 at 50,000
    check-ins."""
    return sa.cast(checkins.status, sa.String()).in_([str(status) for status in HISTORY_STATUSES])


_SCORES = _scores_statement()
_GLANCES = _glances_statement()
_LISTED = _listed_statement()


async def history_versions(session: AsyncSession, client_ids: Collection[str]) -> dict[str, tuple[object, ...]]:
    """Per client, a value that changes whenever their history may have: a check-in added, finished or removed,
    an answer given (it moves ``last_activity_at``), a late completion. One aggregate query, so a reader can keep
    what it drew from a history until this changes; a client without check-ins has no key."""
    if not client_ids:
        return {}
    found = await session.execute(_VERSIONS, {"client_ids": list(client_ids)})
    return {client_id: tuple(version) for client_id, *version in found}


def _versions_statement() -> Any:
    """``history_versions``'s query, built once (every practice page runs it). The index of 0010 holds every
    column it reads, so it walks the clients' index entries, not their check-ins' rows with the questions."""
    finished = _finished(CheckIn)
    return (
        sa.select(
            CheckIn.client_id,
            sa.func.count(),
            sa.func.max(CheckIn.id),
            sa.func.sum(sa.case((finished, 1), else_=0)),
            sa.func.max(CheckIn.last_activity_at),
            sa.func.max(CheckIn.completed_at),
        )
        .where(CheckIn.client_id.in_(sa.bindparam("client_ids", expanding=True)))
        .group_by(CheckIn.client_id)
    )


_VERSIONS = _versions_statement()


async def alert_marks(session: AsyncSession, client_id: str, *, since: datetime | None = None) -> list[AlertMark]:
    """When the client's alerts were raised and how severe, oldest first; ``since`` keeps a chart to its own
    time range."""
    query = sa.select(Alert.created_at, Alert.severity).where(Alert.client_id == client_id)
    if since is not None:
        query = query.where(Alert.created_at >= since)
    rows = await session.execute(query.order_by(Alert.created_at, Alert.id))
    return [AlertMark(at, severity) for at, severity in rows]
