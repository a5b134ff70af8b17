"""Stopping background work without cutting a database transaction in half: the core's parts and the adapters
stop their tasks the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any


async def finish_or_cancel(tasks: Collection[asyncio.Task[Any]], grace: float) -> None:
    """Let ``tasks`` finish for up to ``grace`` seconds, cancel those still running, and return once all ended.

    Work cancelled inside its transaction rolls back harmlessly, but the database driver logs a traceback while it
    closes the cursor, so a stop waits a moment for work under way; the grace keeps the stop prompt when that work
    is stuck (on a database that is away). What the tasks raised is theirs to log: a stop does not re-raise it.
    """
    if not tasks:
        return
    _, late = await asyncio.wait(set(tasks), timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
