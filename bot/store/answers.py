"""Answers to check-in steps, their text sealed at rest and opened on the way out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.store.database import sealer_of
from bot.store.models import (
    Answer,
)
from bot.store.sealed import open_text
from bot.store.statements import insert_for

#: The columns an answer's upsert writes, and those a later answer to the same step replaces.
_REPLACED = ("question_id", "dimension", "goal_id", "value", "text", "answered_at")
#: The upsert of ``upsert_answer`` per dialect, built once (it runs for every answer a client gives).
_UPSERT: dict[str, Any] = {}


def _upsert_statement(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = _UPSERT.get(dialect)
    if stmt is None:
        insert = insert_for(session, Answer)
        stmt = _UPSERT[dialect] = (
            insert.on_conflict_do_update(
                index_elements=[Answer.checkin_id, Answer.step_key],
                set_={name: insert.excluded[name] for name in _REPLACED},
            )
            .returning(Answer)
            .execution_options(populate_existing=True)
        )
    return stmt


async def upsert_answer(
    session: AsyncSession,
    checkin_id: int,
    step_key: str,
    question_id: str,
    dimension: str,
    goal_id: str | None,
    value: int | None,
    text: str | None,
    answered_at: datetime,
) -> Answer:
    """Record the answer to one step, replacing an earlier answer to the same step; its text is sealed."""
    stored = sealer_of(session).seal(text) if text is not None else None
    values = {
        "checkin_id": checkin_id,
        "step_key": step_key,
        "question_id": question_id,
        "dimension": dimension,
        "goal_id": goal_id,
        "value": value,
        "text": stored,
        "answered_at": answered_at,
    }
    answer: Answer = (await session.scalars(_upsert_statement(session), values)).one()
    set_committed_value(answer, "text", text)
    return answer


async def delete_answer(session: AsyncSession, checkin_id: int, step_key: str) -> bool:
    """Forget the answer to one step (the client went back); False when there was none."""
    deleted = await session.scalars(
        sa.delete(Answer).where(Answer.checkin_id == checkin_id, Answer.step_key == step_key).returning(Answer.id)
    )
    return deleted.first() is not None


async def answers_for(session: AsyncSession, checkin_id: int) -> list[Answer]:
    """A check-in's answers with their text opened (``None`` where no configured key opens it)."""
    query = sa.select(Answer).where(Answer.checkin_id == checkin_id).order_by(Answer.answered_at, Answer.id)
    answers = list((await session.scalars(query.execution_options(populate_existing=True))).all())
    sealer = sealer_of(session)
    for answer in answers:
        # Committed, not assigned: the session must not write the opened text back.
        set_committed_value(answer, "text", open_text(sealer, answer.text, f"answer {answer.id}"))
    return answers
