"""``withdrawal``: the client pulling back from the check-ins themselves.

A check-in counts as withdrawn when it was missed (expired or skipped), answered much later or much more
briefly than this client usually does, or answered with relationship questions left out that they usually
answer. One such check-in is ordinary life; ``in_a_row`` of them is a pattern worth a coach's attention. The
client's norm (median reply time, median amount of text, usual number of skipped questions) comes from their
answered check-ins before the last ``in_a_row``, so the run being judged cannot make its own norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from bot.config.alerts import WithdrawalSettings
from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import Question
from bot.conversation.texts import Texts
from bot.signals.detectors.common import day, item_scores, number
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal


class _Norm:
    """How this client usually answers, from check-ins before the run being judged."""

    def __init__(self, earlier: Sequence[HistoryEntry], questions: Sequence[Question], min_history: int) -> None:
        answered = [e for e in earlier if e.status == CheckInStatus.COMPLETED]
        latencies = [_latency(e) for e in answered]
        timed = [latency for latency in latencies if latency is not None]
        self.latency_hours = median(timed) if len(timed) >= min_history else None
        self.chars = median(_chars(e) for e in answered) if len(answered) >= min_history else None
        self.skipped = median(len(questions) - len(item_scores(e, questions)) for e in answered) if answered else 0


def detect_withdrawal(
    history: Sequence[HistoryEntry], questions: Sequence[Question], texts: Texts, settings: WithdrawalSettings
) -> list[Signal]:
    if len(history) < settings.in_a_row:
        return []
    norm = _Norm(history[: -settings.in_a_row], questions, settings.min_history)
    run: list[str] = []
    for entry in reversed(history):
        detail = _withdrawn(entry, norm, questions, texts, settings)
        if detail is None:
            break
        run.append(detail)
    if len(run) < settings.in_a_row:
        return []
    details = "; ".join(reversed(run[: settings.in_a_row]))
    reason = texts.render("reason_withdrawal", count=len(run), details=details)
    return [Signal("withdrawal", "relationship", reason, None, -float(len(run)))]


def _withdrawn(
    entry: HistoryEntry, norm: _Norm, questions: Sequence[Question], texts: Texts, settings: WithdrawalSettings
) -> str | None:
    """Why ``entry`` counts as withdrawn, in words, or None when it does not."""
    when = day(entry)
    if entry.status == CheckInStatus.EXPIRED:
        return texts.render("withdrawal_missed", date=when)
    if entry.status == CheckInStatus.SKIPPED:
        return texts.render("withdrawal_skipped", date=when)
    latency = _latency(entry)
    if (
        latency is not None
        and norm.latency_hours is not None
        and latency >= settings.slower_factor * norm.latency_hours
        and latency >= settings.slower_min.total_seconds() / 3600
    ):
        return texts.render("withdrawal_slow", date=when, hours=number(latency), usual=number(norm.latency_hours))
    chars = _chars(entry)
    if (
        norm.chars is not None
        and norm.chars >= settings.min_usual_chars
        and chars <= settings.shorter_factor * norm.chars
    ):
        return texts.render("withdrawal_short", date=when, chars=chars, usual=round(norm.chars))
    left_out = len(questions) - len(item_scores(entry, questions))
    if questions and left_out - norm.skipped >= settings.skipped_items:
        return texts.render("withdrawal_items", date=when, count=left_out, total=len(questions))
    return None


def _latency(entry: HistoryEntry) -> float | None:
    if entry.sent_at is None or entry.completed_at is None:
        return None
    return max((entry.completed_at - entry.sent_at).total_seconds(), 0.0) / 3600


def _chars(entry: HistoryEntry) -> int:
    return sum(len(text.strip()) for text in entry.texts.values())
