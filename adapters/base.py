"""The contract every platform adapter fulfils, and the errors it reports to the outbox.

An adapter is deliberately thin: it turns platform payloads into the core's inbound messages and sends the
core's outbound messages. Whether to retry, when, and how often is the outbox's business; the adapter only
says what happened, which is why a send failure is classified here rather than handled.
"""

from __future__ import annotations

from typing import Protocol

from bot.messages import InboundSink, OutboundMessage


class SendError(Exception):
    """A send that did not go through.

    ``permanent`` means retrying cannot help (the user blocked the bot, the channel is gone);
    ``retry_after`` carries the platform's own wait in seconds when it gave one (HTTP 429).
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Adapter(Protocol):
    #: The platform name used in config and in stored addresses: "slack", "telegram", "console".
    name: str

    async def start(self, sink: InboundSink) -> None:
        """Begin delivering inbound messages to ``sink``."""
        ...

    async def stop(self) -> None:
        """Stop receiving; return once no inbound message is still being handed to the sink."""
        ...

    async def send(self, message: OutboundMessage) -> str:
        """Deliver one message and return the platform's reference to it; raise ``SendError`` on failure."""
        ...
