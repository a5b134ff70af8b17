"""A client's relationship trend as a PNG a coach can read on a phone, at a glance.

Drawn with matplotlib's object API on an Agg canvas, never pyplot: pyplot keeps global figure state that a
long-running bot would leak and share between concurrent renders, and it may pick a GUI backend. Only
numbers, dates and the client's name go on the chart; what clients wrote never does.

What makes it readable at a glance: each check-in's date under it; the 1–5 axis in words (the question set's
own scale labels where its relationship questions agree, else the words in the prompts); a missed check-in
leaves a gap in every line instead of a line bridging it as if the client had answered; urgent and watch
alerts drawn apart, with a legend; and a client's first check-in shown as its values (one bar per answer), not
as a column of dots on top of each other.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bot.contract.statuses import CheckInStatus, Severity
from bot.conversation.questions import Question, QuestionSet
from bot.conversation.texts import Texts
from bot.signals.detectors.common import (
    COMMON_MAX,
    COMMON_MIN,
    alliance_index,
    item_scores,
    number,
    relationship_questions,
    to_common,
)
from bot.signals.history import AlertMark, HistoryEntry

#: 1080 x 720 px: the width of a phone screen at full resolution, so chat apps show it without downscaling text.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 4.8, 150
#: Points; at this DPI 12 pt is about 25 px, legible on a phone without zooming.
FONT, TITLE_FONT = 12, 16
#: Dates labelled under the axis at most; more would overlap on a phone.
MAX_DATE_LABELS = 6

ALLIANCE_COLOUR = "#1a1a2e"
ITEM_COLOURS = {
    "hope": "#1f77b4",
    "focus": "#2ca02c",
    "trust": "#9467bd",
    "perspective": "#ff7f0e",
    "support": "#17becf",
}
FLOOR_COLOUR = "#c0392b"
MISSED_COLOUR = "#8c8c8c"
#: Urgent: a solid red line; watch: a dashed amber one. Told apart by style as well as colour, for coaches
#: who do not see red and amber apart.
ALERT_STYLES = {
    Severity.URGENT: {"color": "#d62728", "linestyle": "-", "linewidth": 2.2},
    Severity.WATCH: {"color": "#e69f00", "linestyle": "--", "linewidth": 1.8},
}
#: Relationship answers are whole numbers and often equal; nudging each item's line a little apart keeps
#: every line visible instead of the last one drawn hiding the others.
ITEM_SPREAD = 0.04
MISSED_Y = 0.75


def render_trend(
    client_name: str,
    history: Sequence[HistoryEntry],
    *,
    question_set: QuestionSet,
    floor: int,
    texts: Texts,
    alerts: Sequence[AlertMark] = (),
) -> bytes:
    """The chart of ``trend_figure`` as PNG bytes."""
    figure = trend_figure(client_name, history, question_set=question_set, floor=floor, texts=texts, alerts=alerts)
    buffer = io.BytesIO()
    # No metadata: the same history gives the same bytes, which keeps the image cacheable and testable.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def trend_figure(
    client_name: str,
    history: Sequence[HistoryEntry],
    *,
    question_set: QuestionSet,
    floor: int,
    texts: Texts,
    alerts: Sequence[AlertMark] = (),
) -> Figure:
    """The client's alliance index and relationship answers over time, with the floor, missed check-ins and
    alerts marked.

    Everything is drawn on the detectors' common 1–5 scale with their ``alliance_index``, so the chart shows the
    numbers the alert was computed from, and ``floor`` (written for that scale, like ``alerts.low_score_floor``)
    sits where the detectors put it whatever scale a question set uses.
    """
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(texts.render("chart_title", client_name=client_name), fontsize=TITLE_FONT, loc="left")
    questions = relationship_questions(question_set)
    answered = [e for e in history if e.status == CheckInStatus.COMPLETED and item_scores(e, questions)]
    if not history:
        _message(axes, texts.render("chart_no_checkins"))
        axes.set_axis_off()
        return figure
    meanings = scale_meanings(questions, texts)
    if len(answered) == 1:
        _draw_values(axes, answered[0], questions, floor=floor, texts=texts, meanings=meanings)
    else:
        _draw_trend(axes, history, questions, floor=floor, texts=texts, meanings=meanings, alerts=alerts)
        if not answered:
            _message(axes, texts.render("chart_no_answers"))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=FONT)
    if axes.get_legend_handles_labels()[0]:
        figure.legend(loc="outside lower center", ncols=4, fontsize=FONT, frameon=False)
    return figure


def scale_meanings(questions: Sequence[Question], texts: Texts) -> dict[int, str]:
    """What each point of the common 1–5 scale means in words: the label most relationship questions give it
    (shared by two or more, or the only question's), else for the ends the prompts' ``chart_scale_low`` and
    ``chart_scale_high``. A point in between that no two questions name stays a number."""
    votes: dict[int, Counter[str]] = {}
    for question in questions:
        assert question.scale is not None  # relationship_questions() ensures it
        for raw, label in question.scale.labels.items():
            common = to_common(raw, question.scale)
            if common is not None and common == int(common):
                votes.setdefault(int(common), Counter())[label] += 1
    meanings: dict[int, str] = {}
    for point, counter in votes.items():
        label, count = counter.most_common(1)[0]
        if count >= 2 or len(questions) == 1:
            meanings[point] = label
    meanings.setdefault(int(COMMON_MIN), texts.render("chart_scale_low"))
    meanings.setdefault(int(COMMON_MAX), texts.render("chart_scale_high"))
    return meanings


def _scale_labels(meanings: dict[int, str]) -> tuple[list[int], list[str]]:
    points = list(range(int(COMMON_MIN), int(COMMON_MAX) + 1))
    return points, [f"{p} · {meanings[p]}" if p in meanings else str(p) for p in points]


def _draw_trend(
    axes: Axes,
    history: Sequence[HistoryEntry],
    questions: Sequence[Question],
    *,
    floor: int,
    texts: Texts,
    meanings: dict[int, str],
    alerts: Sequence[AlertMark],
) -> None:
    """One point per check-in for each answer and the index; a check-in without that answer is a gap."""
    xs = np.array([_day(e.at) for e in history])
    scored = [item_scores(e, questions) if e.status == CheckInStatus.COMPLETED else {} for e in history]
    for offset, question in zip(_spread(len(questions)), questions, strict=True):
        ys = _gapped([s[question.id] + offset if question.id in s else None for s in scored])
        if ys.count():
            colour = ITEM_COLOURS.get(question.id)  # an admin's own question gets matplotlib's next colour
            axes.plot(xs, ys, color=colour, linewidth=1.4, alpha=0.8, marker=".", label=question.id)
    index = _gapped([alliance_index(e, questions) for e in history])
    if index.count():
        axes.plot(
            xs,
            index,
            color=ALLIANCE_COLOUR,
            linewidth=3.5,
            marker="o",
            markersize=7,
            label=texts.render("chart_alliance"),
        )

    missed = [_day(e.at) for e in history if e.status != CheckInStatus.COMPLETED]
    if missed:
        axes.scatter(
            missed,
            [MISSED_Y] * len(missed),
            color=MISSED_COLOUR,
            marker="x",
            s=80,
            linewidths=2.5,
            label=texts.render("chart_missed"),
        )
    for severity in (Severity.URGENT, Severity.WATCH):
        marks = [a for a in alerts if a.severity == severity]
        for mark in marks:
            axes.axvline(_day(mark.at), **ALERT_STYLES[severity])  # type: ignore[arg-type]
        if marks:  # one legend entry per severity drawn
            axes.add_line(Line2D([], [], label=texts.render(f"chart_alert_{severity}"), **ALERT_STYLES[severity]))  # type: ignore[arg-type]

    _floor(axes, floor, texts, vertical=False)
    axes.set_ylim(MISSED_Y - 0.35, COMMON_MAX + 0.4)
    axes.set_yticks(*_scale_labels(meanings))
    start, end = _time_range([e.at for e in history] + [a.at for a in alerts])
    axes.set_xlim(_day(start), _day(end))
    dates = _labelled([e.at for e in history])
    years = {at.year for at in dates}
    axes.set_xticks([_day(at) for at in dates], [_date(at, with_year=len(years) > 1) for at in dates])
    axes.grid(axis="y", alpha=0.3)


def _draw_values(
    axes: Axes,
    entry: HistoryEntry,
    questions: Sequence[Question],
    *,
    floor: int,
    texts: Texts,
    meanings: dict[int, str],
) -> None:
    """A single check-in: one bar per answer with its value written at its end, the index on top."""
    scores = item_scores(entry, questions)
    index = alliance_index(entry, questions)
    rows = [(texts.render("chart_alliance"), index, ALLIANCE_COLOUR)] if index is not None else []
    rows += [(q.id, scores[q.id], ITEM_COLOURS.get(q.id, "0.4")) for q in questions if q.id in scores]
    positions = list(range(len(rows)))[::-1]
    left = COMMON_MIN - 0.5
    for position, (_, value, colour) in zip(positions, rows, strict=True):
        assert value is not None
        axes.barh(position, value - left, left=left, color=colour, height=0.6)
        axes.text(value + 0.05, position, number(value), va="center", ha="left", fontsize=FONT)
    axes.set_yticks(positions, [name for name, _, _ in rows])
    axes.set_ylim(-0.5, len(rows) - 0.5 + 0.4)  # room above the top bar for the floor's label
    axes.set_xlim(left, COMMON_MAX + 0.5)
    axes.set_xticks(*_scale_labels(meanings))
    axes.set_xlabel(_date(entry.at, with_year=True), fontsize=FONT)
    _floor(axes, floor, texts, vertical=True)


def _floor(axes: Axes, floor: int, texts: Texts, *, vertical: bool) -> None:
    style = {"color": FLOOR_COLOUR, "linewidth": 1.4, "linestyle": "--"}
    label = texts.render("chart_floor", floor=floor)
    if vertical:  # the label inside the frame, above the bars, clear of the title
        axes.axvline(floor, **style)  # type: ignore[arg-type]
        axes.annotate(
            label,
            xy=(floor, 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -2),
            textcoords="offset points",
            ha="left",
            va="top",
            color=FLOOR_COLOUR,
            fontsize=FONT,
        )
        return
    axes.axhline(floor, **style)  # type: ignore[arg-type]
    axes.annotate(
        label,
        xy=(1, floor),
        xycoords=("axes fraction", "data"),
        xytext=(6, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        color=FLOOR_COLOUR,
        fontsize=FONT,
    )


def _gapped(values: Sequence[float | None]) -> np.ma.MaskedArray:
    """The values with the missing ones masked, so matplotlib breaks the line there instead of bridging it."""
    return np.ma.masked_invalid(np.array([math.nan if v is None else v for v in values], dtype=float))


def _labelled(times: Sequence[datetime]) -> list[datetime]:
    """The check-in dates to write under the axis: all of them, or evenly every few with the latest kept."""
    unique = sorted({at.date(): at for at in times}.values())
    step = max(1, math.ceil(len(unique) / MAX_DATE_LABELS))
    return unique[::-1][::step][::-1]


def _date(at: datetime, *, with_year: bool) -> str:
    return f"{at.day} {at:%b %Y}" if with_year else f"{at.day} {at:%b}"


def _day(at: datetime) -> float:
    """Matplotlib's date number: its typed API takes floats."""
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
