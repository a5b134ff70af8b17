"""The contract every platform adapter fulfils, and the errors it reports to the outbox.

An adapter is deliberately thin: it turns platform payloads into the core's inbound messages and sends the
core's outbound messages. Whether to retry, when, and how often is the outbox's business; the adapter only
says what happened, which is why a send failure is classified here rather than handled.
"""

from __future__ import annotations

from typing import Literal, Protocol

from bot.contract.messages import InboundSink, OutboundMessage


class SendError(Exception):
    """A send that did not go through, or may not have.

    ``permanent`` means retrying cannot help (the user blocked the bot, the channel is gone);
    ``retry_after`` carries the platform's own wait in seconds when it gave one (HTTP 429), and ``scope``
    says whether that wait holds for this recipient only or for every send to the platform.

    ``ambiguous`` means the request may have reached the platform and been accepted (typically a timeout
    after the request was written). Neither Slack nor Telegram accepts an idempotency key on a send, so the
    outbox retries it and the recipient may see the message twice: delivery is at-least-once by contract.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        scope: Literal["recipient", "global"] = "recipient",
        ambiguous: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.scope = scope
        self.ambiguous = ambiguous


class AdapterStartError(Exception):
    """The platform refused the bot at start (a wrong or revoked token) or could not be reached.

    Raised by ``start`` so that `checkin run` can say so in one line instead of a traceback.
    """


class Adapter(Protocol):
    #: The platform name used in config and in stored addresses: "slack", "telegram", "console".
    name: str

    async def start(self, sink: InboundSink) -> None:
        """Begin delivering inbound messages to ``sink``; ``AdapterStartError`` if the platform refuses."""
        ...

    async def stop(self) -> None:
        """Stop receiving; return once no inbound message is still being handed to the sink."""
        ...

    async def send(self, message: OutboundMessage) -> str:
        """Deliver one message and return the platform's reference to it; raise ``SendError`` on failure."""
        ...
