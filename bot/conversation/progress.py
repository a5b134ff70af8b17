"""The client's own goal progress in words: one line at the end of a check-in, a beacon of hope.

Pure: the runtime reads the client's progress answers (``bot.store.goal_progress``) and this decides what to
say, in the client's language. A goal that rose is named with where it started and where it is now; when none
rose yet, the line says how often the client has checked in, since showing up is where progress starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.conversation.texts import Texts, name_list


@dataclass(frozen=True, slots=True)
class GoalTrack:
    """One active goal's progress answers, oldest first: (check-in slot, value on the question's scale)."""

    title: str
    points: tuple[tuple[datetime, int], ...]


def progress_line(texts: Texts, tracks: Sequence[GoalTrack], zone: ZoneInfo) -> str | None:
    """The line for the end of a check-in; ``None`` until there are two check-ins to compare."""
    answered = sorted({at for track in tracks for at, _ in track.points})
    if len(answered) < 2:
        return None
    month = name_list(texts.render("month_names"))[answered[0].astimezone(zone).month - 1]
    rises = [(track.points[-1][1] - track.points[0][1], track) for track in tracks if len(track.points) > 1]
    rise, best = max(rises, key=lambda pair: pair[0], default=(0, None))
    if best is None or rise <= 0:
        return texts.render("progress_line_steady", month=month, count=len(answered))
    return texts.render("progress_line", month=month, goal=best.title, first=best.points[0][1], last=best.points[-1][1])
