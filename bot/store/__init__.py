"""Persistence: what happens to whom, kept in SQLite (one process) or PostgreSQL (many replicas).

Only this package speaks SQL. Its queries live in one module per concern (``checkins``, ``answers``,
``outbox``, ``alerts``, ``people``, ``identities``, ``clients``, ``coaches``, ``invites``, ``coaching_sessions``,
``goal_progress``, ``events``); callers use them as ``<module>.<name>`` so a reader sees at the call site that
the database is involved, and hold the transaction as a ``Session`` without importing SQLAlchemy themselves.
"""

from bot.store.database import (
    UNAVAILABLE,
    Database,
    Session,
    alembic_config,
    driver_reason,
    unavailable_reason,
    unreachable,
)
from bot.store.models import (
    Alert,
    Answer,
    Base,
    CheckIn,
    Client,
    Coach,
    CoachingSession,
    Goal,
    Identity,
    IdentityKind,
    OutboxMessage,
    ProcessedEvent,
    TelegramInvite,
)
from bot.store.people import ClientRecord, CoachRecord, GoalRecord
from bot.store.types import UTCDateTime

__all__ = [
    "UNAVAILABLE",
    "Alert",
    "Answer",
    "Base",
    "CheckIn",
    "Client",
    "ClientRecord",
    "Coach",
    "CoachRecord",
    "CoachingSession",
    "Database",
    "Goal",
    "GoalRecord",
    "Identity",
    "IdentityKind",
    "OutboxMessage",
    "ProcessedEvent",
    "Session",
    "TelegramInvite",
    "UTCDateTime",
    "alembic_config",
    "driver_reason",
    "unavailable_reason",
    "unreachable",
]
