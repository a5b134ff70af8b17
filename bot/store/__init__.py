"""Persistence: what happens to whom, kept in SQLite (one process) or PostgreSQL (many replicas).

Queries live in ``bot.store.repository``; callers use them as ``repository.<name>`` so a reader sees at the
call site that the database is involved.
"""

from bot.store import repository
from bot.store.database import Database, alembic_config
from bot.store.models import (
    Alert,
    Answer,
    Base,
    CheckIn,
    CheckInStatus,
    Client,
    Coach,
    CoachingSession,
    Goal,
    OutboxMessage,
    OutboxStatus,
    PersonKind,
    ProcessedEvent,
    TelegramInvite,
)
from bot.store.repository import ClientRecord, CoachRecord, GoalRecord
from bot.store.types import UTCDateTime

__all__ = [
    "Alert",
    "Answer",
    "Base",
    "CheckIn",
    "CheckInStatus",
    "Client",
    "ClientRecord",
    "Coach",
    "CoachRecord",
    "CoachingSession",
    "Database",
    "Goal",
    "GoalRecord",
    "OutboxMessage",
    "OutboxStatus",
    "PersonKind",
    "ProcessedEvent",
    "TelegramInvite",
    "UTCDateTime",
    "alembic_config",
    "repository",
]
