"""Charts drawn in a process of their own, so that drawing never slows the replies.

A trend chart costs 100–200 ms of CPU, and the first one another second to import matplotlib. Drawn on the
event loop it stopped every reply that long; drawn in a thread it still held the interpreter lock the loop
needs, and at 30 replies a second ten alerts raised within a second pushed the slowest replies from about
0.2 s to 2.5 s (``benchmarks/inbound.py``). A child process draws on a core of its own instead.

One child serves the whole bot process: ``checkin run`` starts it once the bot runs (``warm_up``), so the
first alert does not start it, and import matplotlib, while replies come in; it is kept for the next charts,
and started again if it dies. A process that never calls ``warm_up`` starts it at its first chart. A chart is
handed over as a picklable description (names, dates, numbers, the question set and the texts), never a
closure; the child imports the module that draws when it draws. It ignores Ctrl-C, which the terminal sends to the whole
process group: the bot decides when to stop, and the child ends with it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from bot.conversation.progress import GoalTrack
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals.history import AlertMark, HistoryEntry


class Chart(Protocol):
    """A chart to draw: calling it (in the drawing process) returns the PNG."""

    def __call__(self) -> bytes: ...


@dataclass(frozen=True)
class TrendChart:
    """A client's relationship trend for their coach (``bot.signals.charts.render_trend``)."""

    client_name: str
    history: Sequence[HistoryEntry]
    question_set: QuestionSet
    floor: int
    texts: Texts
    alerts: Sequence[AlertMark] = ()

    def __call__(self) -> bytes:
        from bot.signals.charts import render_trend  # in the drawing process only

        return render_trend(
            self.client_name,
            self.history,
            question_set=self.question_set,
            floor=self.floor,
            texts=self.texts,
            alerts=self.alerts,
        )


@dataclass(frozen=True)
class GoalProgressChart:
    """A client's own goals over time (``bot.signals.progress_chart.render_goal_progress``)."""

    title: str
    tracks: Sequence[GoalTrack]
    labels: Mapping[int, str]
    lowest: int
    highest: int

    def __call__(self) -> bytes:
        from bot.signals.progress_chart import render_goal_progress  # in the drawing process only

        return render_goal_progress(
            self.title, self.tracks, labels=self.labels, lowest=self.lowest, highest=self.highest
        )


async def draw(chart: Chart) -> bytes:
    """The PNG of ``chart``, drawn in the drawing process; a chart that fails raises its error here.

    A child that died (killed, out of memory) is replaced and the chart drawn once more; a second death in a
    row is raised as ``BrokenProcessPool``, so a chart that kills its drawer cannot loop.
    """
    try:
        return await _draw_once(chart)
    except BrokenProcessPool:
        return await _draw_once(chart)


async def _draw_once(chart: Chart) -> bytes:
    """Draw in the current drawing process; a dead one is forgotten, so the next call starts another."""
    pool = _drawer()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, chart)
    except BrokenProcessPool:
        _forget(pool)
        raise


def warm_up() -> Future[None] | None:
    """Start the drawing process now and have it import what draws; the future says when it is ready, for a
    caller that would rather wait (a benchmark measuring the steady state); ``None`` if it died meanwhile."""
    pool = _drawer()
    try:
        return pool.submit(_import_drawing)
    except BrokenProcessPool:  # it died since the last chart: the next one starts another
        _forget(pool)
        return None


def _import_drawing() -> None:
    import bot.signals.charts
    import bot.signals.progress_chart  # noqa: F401 - imported for the charts to come


_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _drawer() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # Spawned, not forked: the bot process has threads (database drivers, the drawing pool's own) that a
            # fork would copy mid-step.
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
            )
        return _pool


def _forget(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False)  # a broken pool has failed its charts already


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
