"""Column types shared by the models and the hand-written migrations.

Named states (``bot.contract.statuses``) are stored as their plain text values and read back as enum members.

Every moment in the bot is an aware UTC ``datetime``; SQLite has no time zone type and PostgreSQL's
``timestamp without time zone`` would silently drop the offset, so one decorator owns the conversion
and refuses naive values instead of guessing which zone they meant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC in Python; naive UTC on SQLite, ``timestamp with time zone`` on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: the store only accepts timezone-aware datetimes")
        moment = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return moment
        return moment.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL so payloads stay indexable and compact.

    ``none_as_null`` keeps Python ``None`` as SQL NULL rather than the JSON literal ``null``, so
    "no state yet" is testable with ``IS NULL``.
    """
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


class NamedState(sa.types.TypeDecorator[E]):
    """A ``StrEnum`` member in Python, its plain value in a text column.

    The column stays ``VARCHAR`` with no database enum or check constraint, so a new member needs no migration;
    reading a value the enum does not know fails loudly instead of passing a stray string around.
    """

    impl = sa.String()
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self._enum = enum
        # A dict lookup, not ``enum(value)``: calling an Enum class costs about 3 µs, paid on every row read
        # (110,000 check-in statuses for `checkin status` at 10,000 clients).
        self._members: dict[str, E] = {member.value: member for member in enum}

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self._enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        member = self._members.get(value)
        return member if member is not None else self._enum(value)  # an unknown value raises as before
