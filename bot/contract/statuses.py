"""The named states the core stores and compares: check-ins, outbox rows, alerts, invites, digests.

They live at the bottom of the layers so the conversation engine, the signals, the store and the runtime all
say ``CheckInStatus.COMPLETED`` rather than repeating strings. Each member's value is what the database holds,
so these enums are a vocabulary, not a schema change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class CheckInStatus(StrEnum):
    DUE = "due"
    SENT = "sent"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    FAILED = "failed"


#: Check-ins waiting for the client's answers.
OPEN_CHECKIN_STATUSES: Final = (CheckInStatus.SENT, CheckInStatus.IN_PROGRESS)
#: Check-ins that are over; the retention purge never removes a conversation still in progress.
CLOSED_CHECKIN_STATUSES: Final = (
    CheckInStatus.COMPLETED,
    CheckInStatus.EXPIRED,
    CheckInStatus.SKIPPED,
    CheckInStatus.FAILED,
)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    #: Never sent because the client said ``stop`` after it was queued.
    CANCELLED = "cancelled"


#: Messages still to go out: queued, or leased to a worker sending them.
UNSENT_OUTBOX_STATUSES: Final = (OutboxStatus.PENDING, OutboxStatus.SENDING)
#: Messages whose fate is settled, which the retention purge may remove.
SETTLED_OUTBOX_STATUSES: Final = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.CANCELLED)


class Severity(StrEnum):
    """How much an alert asks of the coach; an unacknowledged urgent one is sent again."""

    WATCH = "watch"
    URGENT = "urgent"


class PersonKind(StrEnum):
    CLIENT = "client"
    COACH = "coach"


class DigestCadence(StrEnum):
    """How often a coach wants the digest of their clients."""

    WEEKLY = "weekly"
    DAILY = "daily"
    OFF = "off"
