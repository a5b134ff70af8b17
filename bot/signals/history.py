"""A client's check-in history as the detectors, the alert policy, charts and `checkin replay` read it.

One plain shape for two sources: the database (a live client) and a JSON-lines history file (replay). Values
are per question id; a per-goal question (``progress``) is the mean over the goals answered, and a missing
key means the question was skipped or not asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.contract.statuses import CheckInStatus, Severity

#: The check-ins a history holds: the finished ones (open ones have nothing to read yet).
HistoryStatus = Literal[CheckInStatus.COMPLETED, CheckInStatus.EXPIRED, CheckInStatus.SKIPPED]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    client_id: str
    #: The check-in's slot (its scheduled time), aware UTC.
    at: datetime
    status: HistoryStatus
    #: Scale answers by question id (``progress`` averaged over goals).
    scores: Mapping[str, float] = field(default_factory=dict)
    #: Free-text answers by question id (``note``, ``repair``, ...).
    texts: Mapping[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert as a chart marks it: when, and how severe (urgent and watch are drawn apart)."""

    at: datetime
    severity: Severity
