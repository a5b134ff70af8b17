"""The drawing process: charts drawn in a child of their own, the same PNG as drawn here, failures told back."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest

from bot.contract.statuses import Severity
from bot.conversation.progress import GoalTrack
from bot.signals import drawing
from bot.signals.charts import render_trend
from bot.signals.drawing import GoalProgressChart, TrendChart
from bot.signals.history import AlertMark
from bot.signals.progress_chart import render_goal_progress
from tests.support.charts import FailingChart
from tests.test_charts import DEFAULT, T0, TEXTS, eight_weeks


def trend() -> TrendChart:
    return TrendChart(
        "Dana Whitfield", eight_weeks(), DEFAULT, 2, TEXTS, (AlertMark(T0 + timedelta(weeks=7), Severity.URGENT),)
    )


def drawer_pid() -> int:
    """The drawing process's pid (the pool's only worker)."""
    pool = drawing._drawer()
    assert pool._processes is not None
    [pid] = pool._processes
    return pid


async def test_a_trend_drawn_in_the_drawing_process_is_the_trend_drawn_here() -> None:
    chart = trend()
    drawn = await drawing.draw(chart)
    assert drawn == render_trend(
        chart.client_name, chart.history, question_set=DEFAULT, floor=2, texts=TEXTS, alerts=chart.alerts
    )
    assert drawer_pid() != os.getpid()


async def test_a_goal_progress_chart_is_drawn_there_too() -> None:
    tracks = [GoalTrack("Lead the offsite", ((T0, 2), (T0 + timedelta(weeks=1), 4)))]
    labels = {1: "Not started", 5: "Done"}
    drawn = await drawing.draw(GoalProgressChart("Your goals", tracks, labels, 1, 5))
    assert drawn == render_goal_progress("Your goals", tracks, labels=labels, lowest=1, highest=5)


async def test_a_chart_that_fails_raises_its_error_here() -> None:
    with pytest.raises(RuntimeError, match="no fonts"):
        await drawing.draw(FailingChart())
    assert (await drawing.draw(trend())).startswith(b"\x89PNG")  # the drawer is still there for the next


async def test_a_drawing_process_that_died_is_replaced() -> None:
    await drawing.draw(trend())
    dead = drawer_pid()
    os.kill(dead, signal.SIGKILL)
    assert (await drawing.draw(trend())).startswith(b"\x89PNG")
    assert drawer_pid() != dead
