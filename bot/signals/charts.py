"""A client's relationship trend as a PNG a coach can read on a phone.

Drawn with matplotlib's object API on an Agg canvas, never pyplot: pyplot keeps global figure state that a
long-running bot would leak and share between concurrent renders, and it may pick a GUI backend. Only
numbers, dates and the client's name go on the chart; what clients wrote never does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure

from bot.contract.statuses import CheckInStatus
from bot.conversation.questions import Question, QuestionSet
from bot.signals.detectors.common import COMMON_MAX, COMMON_MIN, alliance_index, item_scores, relationship_questions
from bot.signals.history import HistoryEntry

#: 1080 x 720 px: the width of a phone screen at full resolution, so chat apps show it without downscaling text.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 4.8, 150
#: Points; at this DPI 12 pt is about 25 px, legible on a phone without zooming.
FONT, TITLE_FONT = 12, 16

ALLIANCE_COLOUR = "#1a1a2e"
ITEM_COLOURS = {
    "hope": "#1f77b4",
    "focus": "#2ca02c",
    "trust": "#9467bd",
    "perspective": "#ff7f0e",
    "support": "#17becf",
}
FLOOR_COLOUR = "#c0392b"
ALERT_COLOUR = "#d62728"
MISSED_COLOUR = "#8c8c8c"
#: Relationship answers are whole numbers and often equal; nudging each item's line a little apart keeps
#: every line visible instead of the last one drawn hiding the others.
ITEM_SPREAD = 0.04


def render_trend(
    client_name: str,
    history: Sequence[HistoryEntry],
    *,
    question_set: QuestionSet,
    floor: int,
    alerts_at: Sequence[datetime] = (),
) -> bytes:
    """The client's alliance index and relationship answers over time, with the floor, missed check-ins and
    alerts marked, as PNG bytes.

    Everything is drawn on the detectors' common 1–5 scale with their ``alliance_index``, so the chart shows the
    numbers the alert was computed from, and ``floor`` (written for that scale, like ``alerts.low_score_floor``)
    sits where the detectors put it whatever scale a question set uses.
    """
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(f"{client_name}: coaching relationship", fontsize=TITLE_FONT, loc="left")
    if not history:
        _message(axes, "No check-ins yet")
        axes.set_axis_off()
    else:
        _draw(figure, axes, history, relationship_questions(question_set), floor=floor, alerts_at=alerts_at)
    buffer = io.BytesIO()
    # No metadata: the same history gives the same bytes, which keeps the image cacheable and testable.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _draw(
    figure: Figure,
    axes: Axes,
    history: Sequence[HistoryEntry],
    questions: Sequence[Question],
    *,
    floor: int,
    alerts_at: Sequence[datetime],
) -> None:
    completed = [(e, item_scores(e, questions)) for e in history if e.status == CheckInStatus.COMPLETED]
    for offset, question in zip(_spread(len(questions)), questions, strict=True):
        points = [(_day(e.at), scores[question.id] + offset) for e, scores in completed if question.id in scores]
        if points:
            xs, ys = zip(*points, strict=True)
            colour = ITEM_COLOURS.get(question.id)  # an admin's own question gets matplotlib's next colour
            axes.plot(xs, ys, color=colour, linewidth=1.4, alpha=0.8, marker=".", label=question.id)
    indexed = [(_day(e.at), index) for e, _ in completed if (index := alliance_index(e, questions)) is not None]
    if indexed:
        xs, ys = zip(*indexed, strict=True)
        axes.plot(xs, ys, color=ALLIANCE_COLOUR, linewidth=3.5, marker="o", markersize=7, label="alliance")
    else:
        _message(axes, "No answers yet")

    missed = [_day(e.at) for e in history if e.status != CheckInStatus.COMPLETED]
    missed_y = 0.75
    if missed:
        axes.scatter(missed, [missed_y] * len(missed), color=MISSED_COLOUR, marker="x", s=80, linewidths=2.5)
        axes.scatter([], [], color=MISSED_COLOUR, marker="x", label="missed")  # legend entry only
    for at in alerts_at:
        axes.axvline(_day(at), color=ALERT_COLOUR, linewidth=1.6, linestyle=":")
    if alerts_at:
        axes.plot([], [], color=ALERT_COLOUR, linewidth=1.6, linestyle=":", label="alert")

    axes.axhline(floor, color=FLOOR_COLOUR, linewidth=1.4, linestyle="--")
    axes.annotate(
        f"floor {floor}",
        xy=(1, floor),
        xycoords=("axes fraction", "data"),
        xytext=(6, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        color=FLOOR_COLOUR,
        fontsize=FONT,
    )

    axes.set_ylim(COMMON_MIN - 0.5, COMMON_MAX + 0.4)
    axes.set_yticks(range(int(COMMON_MIN), int(COMMON_MAX) + 1))
    start, end = _time_range([e.at for e in history] + list(alerts_at))
    axes.set_xlim(_day(start), _day(end))
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=5))
    # A day and month read at a glance; the year only once the chart spans more than one.
    axes.xaxis.set_major_formatter(DateFormatter("%d %b" if start.year == end.year else "%b %Y"))
    axes.tick_params(labelsize=FONT)
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.legend(loc="outside lower center", ncols=4, fontsize=FONT, frameon=False)


def _day(at: datetime) -> float:
    """Matplotlib's date number: its typed API takes floats, and the date locator and formatter read them."""
    return float(date2num(at))


def _spread(count: int) -> list[float]:
    """Offsets centred on zero, one per line."""
    return [(i - (count - 1) / 2) * ITEM_SPREAD for i in range(count)]


def _time_range(times: Sequence[datetime]) -> tuple[datetime, datetime]:
    """The times with a margin, at least a day either side so a single check-in is not on the frame."""
    start, end = min(times), max(times)
    margin = max(timedelta(days=1), (end - start) * 0.05)
    return start - margin, end + margin


def _message(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=TITLE_FONT, color="0.4")
