"""An inbound sink whose handling is under way until the test lets it commit, as one inside a transaction is.

For the tests of a stop that comes while an event is being handled: the stop must wait for the handling
(``handled``) instead of cancelling it (``cancelled``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.contract.messages import InboundEvent


class SlowSink:
    def __init__(self) -> None:
        self.handling = asyncio.Event()
        self.commit = asyncio.Event()
        self.handled: list[InboundEvent] = []
        self.cancelled: list[InboundEvent] = []

    async def __call__(self, event: InboundEvent) -> None:
        self.handling.set()
        try:
            await self.commit.wait()
        except asyncio.CancelledError:
            self.cancelled.append(event)
            raise
        self.handled.append(event)

    async def stop_while_handling(self, stop: Callable[[], Awaitable[None]]) -> None:
        """Call ``stop`` once an event is being handled, check that it waits for the handling, then let it commit."""
        await asyncio.wait_for(self.handling.wait(), timeout=10)
        stopping = asyncio.ensure_future(stop())
        await asyncio.sleep(0.1)
        assert not stopping.done(), "stop did not wait for the event being handled"
        self.commit.set()
        await asyncio.wait_for(stopping, timeout=10)
