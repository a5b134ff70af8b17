"""One check-in as the coach reads it: a row of scores with arrows, the client's notes verbatim, what was skipped.

Pure: given the client's history ending with the check-in it writes the message. Arrows compare each score
with the previous check-in that has it; "usually" is the median of every earlier check-in that has it, shown
only where today's answer is a whole point or more away from it, so the row stays short when nothing moved.
The client's words are quoted line by line behind a quote mark, with invisible formatting characters (bidi
overrides, zero-width marks) taken out, so a note can never pass for a line the bot wrote.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import median
from zoneinfo import ZoneInfo

from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.history import HistoryEntry

#: A change smaller than this shows as steady: answers are whole numbers, goal progress a mean of them.
STEADY = 0.5
#: How far from the usual level an answer must be before the row says what is usual.
UNUSUAL = 1.0


@dataclass(frozen=True, slots=True)
class CheckInView:
    """One finished check-in with what the coach should know beyond its answers."""

    entry: HistoryEntry
    #: Question ids asked and left without an answer, in the order they were asked.
    skipped: Sequence[str] = ()


def compose(
    client_name: str,
    view: CheckInView,
    earlier: Sequence[HistoryEntry],
    *,
    question_set: QuestionSet,
    texts: Texts,
    zone: ZoneInfo,
    quoted_elsewhere: Collection[str] = (),
) -> str:
    """The message for one check-in; ``earlier`` is the client's history before it, oldest first.

    ``quoted_elsewhere`` names the answers an alert sent with it quotes: the coach reads each of the client's
    words once.
    """
    entry = view.entry
    lines = [
        texts.render(
            f"coach_summary_title_{entry.status}", client_name=client_name, date=_day(entry.at.astimezone(zone).date())
        )
    ]
    if entry.status == CheckInStatus.COMPLETED:
        lines += _score_lines(entry, earlier, question_set, texts, zone)
        if view.skipped:
            lines.append(texts.render("coach_summary_skipped", questions=", ".join(_name(q) for q in view.skipped)))
        for question_id, text in entry.texts.items():
            if question_id in quoted_elsewhere:
                continue
            lines.append(
                texts.render("coach_summary_quote_intro", client_name=client_name, question=_name(question_id))
            )
            lines += [texts.render("coach_summary_quote_line", text=line) for line in quote_lines(text)]
    return "\n".join(lines)


def quote_lines(text: str) -> list[str]:
    """The lines of what a client wrote, without control and invisible formatting characters; never empty."""
    cleaned = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"))
    lines = [line.strip() for line in cleaned.split("\n")]
    return [line for line in lines if line] or ["…"]


def _score_lines(
    entry: HistoryEntry, earlier: Sequence[HistoryEntry], question_set: QuestionSet, texts: Texts, zone: ZoneInfo
) -> list[str]:
    answered = [q.id for q in question_set.questions if q.scale is not None and q.id in entry.scores]
    if not answered:
        return [texts.render("coach_summary_no_scores")]
    cells = []
    for question_id in answered:
        value = entry.scores[question_id]
        before = [e.scores[question_id] for e in earlier if question_id in e.scores]
        arrow = _arrow(value - before[-1]) if before else ""
        usual = median(before) if len(before) >= 2 else None
        cell = texts.render("coach_summary_score", question=_name(question_id), value=_number(value), arrow=arrow)
        if usual is not None and abs(value - usual) >= UNUSUAL:
            cell += texts.render("coach_summary_usual", value=_number(usual))
        cells.append(cell)
    lines = [texts.render("coach_summary_separator").join(cells)]
    previous = next((e for e in reversed(earlier) if e.scores), None)
    if previous is not None:
        lines.append(texts.render("coach_summary_legend", date=_day(previous.at.astimezone(zone).date())))
    return lines


def _arrow(change: float) -> str:
    if change >= STEADY:
        return "↑"
    if change <= -STEADY:
        return "↓"
    return "→"


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _name(question_id: str) -> str:
    """Question ids are fixed, readable names (``trust``, ``perspective``); they are what coaches see in charts."""
    return question_id.replace("_", " ")


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"
