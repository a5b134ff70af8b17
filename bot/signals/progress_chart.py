"""The client's own goals over time as a small PNG, for the client's ``progress`` command.

Kept apart from ``charts`` (the coach's relationship trend): a different reader, different data (only the
client's goal answers, never the relationship questions or notes) and words in the client's language. Drawn
the same way, with matplotlib's object API on an Agg canvas and never pyplot, so renders share no state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure

from bot.conversation.progress import GoalTrack

#: 720 x 480 px: small enough for a chat preview, large enough to read on a phone.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 4.8, 3.2, 150
FONT, TITLE_FONT = 8, 11
#: Goal titles longer than this are cut in the legend, so a long title cannot squeeze the plot away.
LEGEND_TITLE = 40


def render_goal_progress(
    title: str, tracks: Sequence[GoalTrack], *, labels: Mapping[int, str], lowest: int, highest: int
) -> bytes:
    """One line per goal with answers, on the progress question's scale with its ``labels`` on the axis."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=TITLE_FONT, loc="left")
    for track in tracks:
        if not track.points:
            continue
        xs = [float(date2num(at)) for at, _ in track.points]
        ys = [value for _, value in track.points]
        name = track.title if len(track.title) <= LEGEND_TITLE else f"{track.title[: LEGEND_TITLE - 1]}…"
        axes.plot(xs, ys, linewidth=2, marker="o", markersize=5, label=name)
    axes.set_ylim(lowest - 0.3, highest + 0.3)
    axes.set_yticks(range(lowest, highest + 1))
    axes.set_yticklabels(
        [f"{point} {labels[point]}" if point in labels else str(point) for point in range(lowest, highest + 1)]
    )
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=5))
    axes.xaxis.set_major_formatter(DateFormatter("%d.%m."))
    axes.tick_params(labelsize=FONT)
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="best", fontsize=FONT, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
