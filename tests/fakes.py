"""In-process fakes for core tests: an adapter that records what it is asked to send.

Platform adapters are tested against fake Slack and Telegram servers instead; this one stands in for "some
platform" when what is under test is the runtime, the store and the outbox.
"""

from __future__ import annotations

from collections import deque

from adapters.base import SendError
from bot.messages import InboundSink, OutboundMessage


class CollectingAdapter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.sink: InboundSink | None = None
        #: Failures to raise on the next sends, oldest first.
        self.failures: deque[SendError] = deque()

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    async def send(self, message: OutboundMessage) -> str:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        return f"{self.name}-{len(self.sent)}"

    def to(self, recipient: str) -> list[OutboundMessage]:
        return [m for m in self.sent if m.recipient == recipient]

    def clear(self) -> None:
        self.sent.clear()
