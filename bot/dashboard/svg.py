"""Small inline SVG charts for the dashboard: a sparkline per practice, and a client's trend chart.

Pure functions from numbers to SVG text: no library, nothing loaded from outside, no script, so the page's
Content-Security-Policy can forbid everything but its own styles. Every value is a number the function formats
itself, and every label is escaped, so what a chart shows cannot break out of it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

#: Colours of the trend chart's lines, one per series in order; readable on white and for most colour vision.
PALETTE = ("#1b6ca8", "#d1495b", "#2a9d8f", "#8d5fd3", "#e9a03b", "#555555")
URGENT, WATCH = "#c0392b", "#e67e22"


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its name and its points (when, value); a gap in the data is simply a missing point."""

    name: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class Mark:
    """A vertical mark on the trend chart (an alert): when, and whether it was urgent."""

    at: datetime
    urgent: bool


def sparkline(values: Sequence[float | None], *, lowest: float, highest: float, label: str) -> str:
    """A 80x20 line of ``values`` on the scale ``lowest``..``highest``, the last point dotted; ``None`` is a
    gap. ``label`` is what a screen reader says (the practice and its last value)."""
    count, runs = len(values), _runs(values)
    body = "".join(
        f'<polyline fill="none" stroke="#1b6ca8" stroke-width="1.5" '
        f'points="{" ".join(_spark_point(count, i, v, lowest, highest) for i, v in run)}"/>'
        for run in runs
        if len(run) > 1
    )
    if runs:
        cx, cy = _spark_point(count, *runs[-1][-1], lowest, highest).split(",")
        body += f'<circle cx="{cx}" cy="{cy}" r="2" fill="#1b6ca8"/>'
    return (
        f'<svg class="spark" viewBox="0 0 80 20" width="80" height="20" role="img" aria-label="{escape(label)}">'
        f"{body}</svg>"
    )


@functools.lru_cache(maxsize=4096)
def _spark_point(count: int, index: int, value: float, lowest: float, highest: float) -> str:
    """Point ``index`` of a sparkline of ``count`` values as its "x,y" text: a practice page draws a hundred
    lines of ten points from the five values of a scale, so each point's text is formatted once, not each time."""
    width, height, pad = 80.0, 20.0, 2.0
    step = (width - 2 * pad) / max(count - 1, 1)
    return f"{pad + index * step:.1f},{_scale(value, lowest, highest, height - pad, pad):.1f}"


def trend_chart(series: Sequence[Series], marks: Sequence[Mark], *, lowest: float, highest: float, title: str) -> str:
    """A 640x240 line chart of every series on one scale over the same time range, alerts as vertical lines
    (urgent red, watch orange), a legend under it. Scales to the page width on a phone (viewBox)."""
    width, height, left, right, top, bottom = 640.0, 240.0, 28.0, 8.0, 8.0, 24.0
    moments = [at for s in series for at, _ in s.points] + [m.at for m in marks]
    parts = [
        f'<svg class="trend" viewBox="0 0 {width:.0f} {height + 20 * ((len(series) + 2) // 3):.0f}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    levels = range(int(lowest), int(highest) + 1)
    for level in levels:
        y = _scale(level, lowest, highest, height - bottom, top)
        parts.append(f'<line x1="{left:.0f}" x2="{width - right:.0f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6:.0f}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{level}</text>')
    if moments:
        first, last = min(moments), max(moments)
        span = (last - first).total_seconds() or 1.0

        def x(at: datetime) -> float:
            return left + (at - first).total_seconds() / span * (width - left - right)

        for mark in marks:
            colour = URGENT if mark.urgent else WATCH
            parts.append(
                f'<line class="alert-mark" x1="{x(mark.at):.1f}" x2="{x(mark.at):.1f}" y1="{top:.0f}" '
                f'y2="{height - bottom:.0f}" stroke="{colour}" stroke-dasharray="4 3"/>'
            )
        # Each moment's x and each value's y formatted once: the series share their check-ins' moments and the
        # few values of a scale, and a point is drawn twice (in its line and as a dot).
        xs = {at: f"{x(at):.1f}" for line in series for at, _ in line.points}
        ys: dict[float, str] = {}
        for index, line in enumerate(series):
            colour = PALETTE[index % len(PALETTE)]
            points = [
                (xs[at], ys.get(v) or ys.setdefault(v, f"{_scale(v, lowest, highest, height - bottom, top):.1f}"))
                for at, v in line.points
            ]
            if len(points) > 1:
                coords = " ".join(f"{px},{py}" for px, py in points)
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
            parts.extend(f'<circle cx="{px}" cy="{py}" r="2.5" fill="{colour}"/>' for px, py in points)
        parts.append(f'<text x="{left:.0f}" y="{height - 6:.0f}" font-size="11">{first:%d %b %Y}</text>')
        end = f'x="{width - right:.0f}" y="{height - 6:.0f}" font-size="11" text-anchor="end"'
        parts.append(f"<text {end}>{last:%d %b %Y}</text>")
    for index, line in enumerate(series):
        lx, ly = left + (index % 3) * 200, height + 14 + 20 * (index // 3)
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{lx:.0f}" y="{ly - 9:.0f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14:.0f}" y="{ly:.0f}" font-size="12">{escape(line.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _scale(value: float, lowest: float, highest: float, bottom: float, top: float) -> float:
    """``value`` on the scale as a y coordinate (SVG y grows downwards), clamped to the plot."""
    share = (min(max(value, lowest), highest) - lowest) / ((highest - lowest) or 1.0)
    return bottom - share * (bottom - top)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive known values, so a missed check-in is a gap in the line rather than a slope across it."""
    runs: list[list[tuple[int, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((index, value))
    return [run for run in runs if run]
