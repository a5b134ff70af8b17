"""An inbound sink whose handling is under way until the test lets it commit, as one inside a transaction is.

For the tests of a stop that comes while an event is being handled: the stop must wait for the handling
(``handled``) instead of cancelling it (``cancelled``).
"""

from __future__ import annotations

import asyncio

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
