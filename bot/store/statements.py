"""Statement helpers the store's query modules share.

Races between replicas are settled by the database, not by Python: claims, dedup and upserts use
``INSERT ... ON CONFLICT`` (which leaves the transaction usable, unlike catching an IntegrityError).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def on_postgresql(session: AsyncSession) -> bool:
    """Whether the session speaks to PostgreSQL (arrays, ``= ANY``) rather than SQLite."""
    return session.get_bind().dialect.name == "postgresql"


def insert_for(session: AsyncSession, entity: type[Any] | Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which is the one that knows ON CONFLICT."""
    if on_postgresql(session):
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def among(session: AsyncSession, column: QueryableAttribute[Any], values: Collection[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``; PostgreSQL is sent ``column = ANY($1)``, the values bound as one array.

    An IN list binds a parameter per value, and SQLAlchemy writes each one, with its cast, into the statement at
    every execution: asking which of 200 slots were claimed cost more CPU in writing the list than in running
    the query and reading its rows. SQLite has no arrays and keeps the list.
    """
    if on_postgresql(session):
        return column == sa.any_(_array(column, values))
    return column.in_(values)


def not_among(
    session: AsyncSession, column: QueryableAttribute[Any], values: Collection[Any]
) -> sa.ColumnElement[bool]:
    """``column NOT IN values``, sent to PostgreSQL as ``column <> ALL($1)`` (see ``among``)."""
    if on_postgresql(session):
        return column != sa.all_(_array(column, values))
    return column.not_in(values)


def _array(column: QueryableAttribute[Any], values: Collection[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))


def unnested(name: str, columns: Mapping[str, TypeEngine[Any]], *, numbered: str | None = None) -> TableValuedAlias:
    """PostgreSQL's ``unnest($1, $2, ...) AS name(column, ...)``: rows given as one array per column, each array
    bound under its column's name; ``numbered`` adds a column counting the rows from 1, in the arrays' order.

    A batch inserted from arrays is one short statement with a parameter per column, whatever the rows: for the
    multi-row VALUES of an executemany SQLAlchemy builds every row's parameters and writes each value into the
    statement, about half the Python CPU of inserting 600 outbox rows.
    """
    arrays = (sa.bindparam(column, type_=postgresql.ARRAY(type_)) for column, type_ in columns.items())
    return sa.func.unnest(*arrays).table_valued(*columns, with_ordinality=numbered).render_derived(name=name)


#: Values bound in one statement at most: SQLite allows 32,766 and asyncpg 32,767, and a practice of 100,000
#: clients passes that in one list of ids.
BOUND_VALUES = 30_000


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def affected(result: object) -> int:
    """How many rows an UPDATE or DELETE changed: ``rowcount`` is on the cursor result the drivers return, not
    on the ``Result`` type the session's ``execute`` is declared to return."""
    return int(getattr(result, "rowcount", 0) or 0)
