"""``stalled_progress``: goal progress flat or falling for several check-ins (the hope practice).

Not a relationship signal: a client can trust their coach completely and still be stuck. It goes to the digest
and, when an alert is raised anyway, into it as context, because stuck goals are often where hope erodes first.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config.alerts import StalledProgressSettings
from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors.common import number, to_common
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal

PROGRESS = "progress"


def detect_stalled_progress(
    history: Sequence[HistoryEntry], question_set: QuestionSet, texts: Texts, settings: StalledProgressSettings
) -> list[Signal]:
    try:
        scale = question_set.question(PROGRESS).scale
    except KeyError:
        return []
    if scale is None:
        return []
    points: list[tuple[HistoryEntry, float]] = []
    for entry in history:
        raw = entry.scores.get(PROGRESS)
        common = to_common(raw, scale) if entry.status == CheckInStatus.COMPLETED and raw is not None else None
        if common is not None:
            points.append((entry, common))
    if len(points) < settings.window or points[-1][0] is not history[-1]:
        return []
    values = [value for _, value in points[-settings.window :]]
    if max(values[1:]) > values[0] or values[-1] > settings.at_most:
        return []
    raw_first, raw_last = (points[-settings.window][0].scores[PROGRESS], points[-1][0].scores[PROGRESS])
    reason = texts.render(
        "reason_stalled_progress",
        count=len(values),
        first=number(raw_first),
        last=number(raw_last),
        min=scale.min,
        max=scale.max,
    )
    return [Signal("stalled_progress", "hope", reason, PROGRESS, values[-1])]
