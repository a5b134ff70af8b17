"""Images drawn after their message's commit: a stop lets one under way be attached rather than cut off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest

from bot.delivery import attachments as attachments_module
from bot.delivery.attachments import Attachments
from bot.signals import drawing
from bot.signals.drawing import Chart
from bot.store import Database
from bot.timing.clock import ManualClock


class _SlowDrawer:
    """The drawing process, drawing until the test lets it finish."""

    def __init__(self) -> None:
        self.drawing = asyncio.Event()
        self.finish = asyncio.Event()
        self.cancelled = 0

    async def __call__(self, chart: Chart) -> bytes:
        self.drawing.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return b"\x89PNG drawn"


async def _drawing_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[Attachments, _SlowDrawer, list[str]]:
    drawer = _SlowDrawer()
    monkeypatch.setattr(drawing, "draw", drawer)
    attachments = Attachments(database, ManualClock(datetime(2026, 12, 5, 9, 0, tzinfo=UTC)))
    attached: list[str] = []
    attachments.notify(lambda: attached.append("attached"))
    async with database.transaction() as session:
        attachments.after_commit(session, "alert:1", cast(Chart, object()))
    await asyncio.wait_for(drawer.drawing.wait(), timeout=10)
    return attachments, drawer, attached


async def test_a_stop_lets_an_image_under_way_be_attached(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    attachments, drawer, attached = await _drawing_one(database, monkeypatch)
    closing = asyncio.create_task(attachments.close())
    await asyncio.sleep(0.1)
    assert not closing.done(), "close did not wait for the image under way"
    drawer.finish.set()
    await asyncio.wait_for(closing, timeout=10)
    assert (attached, drawer.cancelled) == (["attached"], 0)
    assert not attachments.pending


async def test_a_stop_cancels_an_image_that_outlasts_the_grace(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drawing process that hangs must not hold the stop; the message goes without its image after its hold."""
    monkeypatch.setattr(attachments_module, "STOP_GRACE", 0.1)
    attachments, drawer, attached = await _drawing_one(database, monkeypatch)
    await asyncio.wait_for(attachments.close(), timeout=10)
    assert (attached, drawer.cancelled) == ([], 1)
