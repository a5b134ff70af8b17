"""``withdrawal``: the client pulling back from the check-ins themselves.

A check-in shows withdrawal when it was missed (expired or skipped), answered much later or much more briefly
than this client usually does, or answered with relationship questions left out that they usually answer.
Signs are weighed by how rarely they happen by chance, and the detector fires at the first check-in where
the run since the pull-back began weighs ``in_a_row``: a missed check-in weighs 1, because busy, committed
clients miss one or two (travel, a launch week); a reply ``FAR_SLOWER`` x ``slower_factor`` times later than
usual (6x with the defaults) weighs 2, because a client who answers, but days late, chose to, and that rarely
happens by chance; a merely slow reply, briefer text and left-out questions weigh 1 each, and one check-in's
signs add up. So three missed check-ins raise the signal, as before, but so do a missed check-in followed by
a far later reply, or one far later reply with questions left out. The client's norm (median
reply time, median amount of text, usual number of skipped questions) comes from their answered check-ins
before the last ``in_a_row``, so the run being judged cannot make its own norm.
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

#: A reply this many times ``slower_factor`` later than usual weighs as much as two missed check-ins.
FAR_SLOWER = 1.5


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
    norm = _Norm(history[: -settings.in_a_row], questions, settings.min_history)
    run: list[str] = []
    weight = 0
    for entry in reversed(history):
        signs = _signs(entry, norm, questions, texts, settings)
        if not signs:
            break
        run.append("; ".join(detail for detail, _ in signs))
        weight += sum(sign_weight for _, sign_weight in signs)
    if weight < settings.in_a_row:
        return []
    details = "; ".join(reversed(run[: settings.in_a_row]))
    # One far later reply can weigh enough on its own; "the last 1 check-ins" would read as a slip.
    if len(run) == 1:
        reason = texts.render("reason_withdrawal_one", details=details)
    else:
        reason = texts.render("reason_withdrawal", count=len(run), details=details)
    return [Signal("withdrawal", "relationship", reason, None, -float(len(run)))]


def _signs(
    entry: HistoryEntry, norm: _Norm, questions: Sequence[Question], texts: Texts, settings: WithdrawalSettings
) -> list[tuple[str, int]]:
    """Each sign of withdrawal ``entry`` shows, in words, with its weight; empty when it shows none."""
    when = day(entry)
    if entry.status == CheckInStatus.EXPIRED:
        return [(texts.render("withdrawal_missed", date=when), 1)]
    if entry.status == CheckInStatus.SKIPPED:
        return [(texts.render("withdrawal_skipped", date=when), 1)]
    signs: list[tuple[str, int]] = []
    latency = _latency(entry)
    if (
        latency is not None
        and norm.latency_hours is not None
        and latency >= settings.slower_factor * norm.latency_hours
        and latency >= settings.slower_min.total_seconds() / 3600
    ):
        hours, usual = number(latency), number(norm.latency_hours)
        weight = 2 if latency >= FAR_SLOWER * settings.slower_factor * norm.latency_hours else 1
        signs.append((texts.render("withdrawal_slow", date=when, hours=hours, usual=usual), weight))
    chars = _chars(entry)
    if (
        norm.chars is not None
        and norm.chars >= settings.min_usual_chars
        and chars <= settings.shorter_factor * norm.chars
    ):
        signs.append((texts.render("withdrawal_short", date=when, chars=chars, usual=round(norm.chars)), 1))
    left_out = len(questions) - len(item_scores(entry, questions))
    if questions and left_out - norm.skipped >= settings.skipped_items:
        signs.append((texts.render("withdrawal_items", date=when, count=left_out, total=len(questions)), 1))
    return signs


def _latency(entry: HistoryEntry) -> float | None:
    if entry.sent_at is None or entry.completed_at is None:
        return None
    return max((entry.completed_at - entry.sent_at).total_seconds(), 0.0) / 3600


def _chars(entry: HistoryEntry) -> int:
    return sum(len(text.strip()) for text in entry.texts.values())
