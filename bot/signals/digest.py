"""The coach's digest: every client at a glance, once a week (or day) in the coach's own time zone.

Pure: given each client's history and open alerts it writes the message; the runtime decides when a digest is
due and sends it through the outbox under a key naming the coach and the period, which makes it once per
period however many replicas look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.config.alerts import Alerts
from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors import RiskPhrases, detect
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.history import HistoryEntry

DigestCadence = Literal["weekly", "daily"]
#: Local time from which a period's digest goes out: before the coach's working day.
DIGEST_TIME = time(8, 0)
#: A change in the alliance index smaller than this shows as steady: answers are whole numbers.
STEADY = 0.25


@dataclass(frozen=True, slots=True)
class ClientDigest:
    name: str
    question_set: QuestionSet
    history: Sequence[HistoryEntry]
    open_alerts: int


def period_start(cadence: DigestCadence, now: datetime, zone: ZoneInfo) -> date:
    """The first day of the period ``now`` falls in, in the coach's time zone (weeks start on Monday)."""
    today = now.astimezone(zone).date()
    return today - timedelta(days=today.weekday()) if cadence == "weekly" else today


def is_due(cadence: DigestCadence, now: datetime, zone: ZoneInfo) -> bool:
    """From 08:00 local on the period's first day on; the outbox key keeps it to one per period."""
    start = datetime.combine(period_start(cadence, now, zone), DIGEST_TIME, zone)
    return now >= start


def compose(
    coach_name: str,
    cadence: DigestCadence,
    since: datetime,
    clients: Sequence[ClientDigest],
    *,
    settings: Alerts,
    texts: Texts,
    phrases: RiskPhrases,
    period: date,
    until: datetime,
) -> str:
    """One line per client (replied or not, trend arrow, open alerts), then their wellbeing and progress notes.

    The period is ``since`` up to, not including, ``until``: a weekly check-in often falls on the digest's own
    hour, and it belongs to the week it opens, reported by the next digest, not this one.

    Clients with nothing to say (not asked this period and no open alerts) share one line at the end when there
    are several, so the first digest after start is not a list of the same words.
    """
    lines = [texts.render(f"digest_title_{cadence}", coach_name=coach_name, date=f"{period.day} {period:%B %Y}")]
    if not clients:
        lines.append(texts.render("digest_no_clients"))
    quiet = [c for c in clients if not c.open_alerts and not any(since <= e.at < until for e in c.history)]
    together = quiet if len(quiet) > 1 else []
    shown_together = {id(client) for client in together}
    for client in sorted(clients, key=lambda c: c.name):
        if id(client) in shown_together:
            continue
        recent = [e for e in client.history if since <= e.at < until]
        replied = any(e.status == CheckInStatus.COMPLETED for e in recent)
        status = texts.render("digest_replied" if replied else ("digest_no_reply" if recent else "digest_not_asked"))
        alerts = texts.render("digest_open_alerts", count=client.open_alerts) if client.open_alerts else ""
        arrow = trend_arrow(client.history, client.question_set)
        lines.append(texts.render("digest_client", arrow=arrow, client_name=client.name, status=status, alerts=alerts))
        for note in _context_notes(client, recent, settings, texts, phrases):
            lines.append(texts.render("digest_note", note=note))
    if together:
        names = ", ".join(sorted(c.name for c in together))
        lines.append(texts.render("digest_not_asked_together", client_names=names))
    return "\n".join(lines)


def trend_arrow(history: Sequence[HistoryEntry], question_set: QuestionSet) -> str:
    """↑, ↓ or → for the last change in the alliance index; · with fewer than two check-ins to compare."""
    questions = relationship_questions(question_set)
    latest: list[float] = []  # newest first; only the last two scored check-ins matter
    for entry in reversed(history):
        if (index := alliance_index(entry, questions)) is not None:
            latest.append(index)
            if len(latest) == 2:
                break
    if len(latest) < 2:
        return "·"
    change = latest[0] - latest[1]
    return "→" if abs(change) < STEADY else ("↑" if change > 0 else "↓")


def _context_notes(
    client: ClientDigest, recent: Sequence[HistoryEntry], settings: Alerts, texts: Texts, phrases: RiskPhrases
) -> list[str]:
    """Wellbeing and stalled progress in the period: not alerts, but what a coach wants to know before a session."""
    notes: list[str] = []
    history = list(client.history)
    for entry in recent:
        upto = history[: history.index(entry) + 1]
        for signal in detect(upto, settings, client.question_set, texts, phrases):
            if not signal.is_relationship and signal.reason not in notes:
                notes.append(signal.reason)
    return notes
