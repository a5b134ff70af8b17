"""Long loops over every client that give the event loop a turn every few hundred clients.

At 10,000 clients a pass that computes each client's schedule in one go held the event loop for over a second,
long enough for a Slack event to miss its three-second acknowledgement and for inbound replies to queue behind
it. The count is fixed rather than timed so that the same pass always yields at the same points (tests count
them); at tens of microseconds per client a chunk costs a few milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

#: Clients handled between two turns given to the event loop.
CHUNK = 50

T = TypeVar("T")


async def paced(items: Iterable[T], chunk: int = CHUNK) -> AsyncIterator[T]:
    """``items`` one by one, letting other tasks run after every ``chunk`` of them."""
    for count, item in enumerate(items, 1):
        yield item
        if count % chunk == 0:
            await asyncio.sleep(0)
