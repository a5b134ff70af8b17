"""A real ``Adapter`` over HTTP for the fake platform in ``tests/fakes/fake_platform.py``.

It is not the Slack or Telegram adapter; it exists so outbox tests exercise real sockets, real timeouts and
real status codes instead of a fake that raises on cue. Its job is the one every platform adapter has: say
what happened, in ``SendError`` terms, and leave retrying to the outbox.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp

from bot.contract.adapter import SendError
from bot.contract.messages import InboundSink, OutboundMessage


class HttpAdapter:
    def __init__(self, name: str, base_url: str, *, timeout: float = 5.0) -> None:
        self.name = name
        self._url = f"{base_url}/send"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self, sink: InboundSink) -> None:
        """The fake platform sends nothing inbound; starting only opens the HTTP session."""
        await self.open()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self) -> None:
        if self._session is None:
            # No connection cap: the outbox decides how many sends run at once.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def __aenter__(self) -> HttpAdapter:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def send(self, message: OutboundMessage) -> str:
        if self._session is None:
            raise SendError("the adapter is not started")
        body = {"recipient": message.recipient, "text": message.text, "outbox_id": message.outbox_id}
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as response:
                payload: dict[str, Any] = await response.json(content_type=None)
                return _reference(response.status, response.headers.get("Retry-After"), payload)
        except aiohttp.ConnectionTimeoutError as error:
            raise SendError(f"could not connect: {error}") from error  # nothing was sent
        except TimeoutError as error:
            raise SendError("no answer before the timeout", ambiguous=True) from error
        except aiohttp.ClientConnectorError as error:
            raise SendError(f"could not connect: {error}") from error
        except aiohttp.ClientError as error:
            raise SendError(f"the connection broke: {error}", ambiguous=True) from error


def _reference(status: int, retry_after: str | None, payload: dict[str, Any]) -> str:
    """Map the platform's answer to a message reference or a classified ``SendError``."""
    description = str(payload.get("description", f"HTTP {status}"))
    if status == 200:
        return str(payload["reference"])
    if status == 429:
        scope = "global" if payload.get("scope") == "global" else "recipient"
        raise SendError(description, retry_after=float(retry_after or 1), scope=scope)
    if status >= 500:
        raise SendError(description)
    raise SendError(description, permanent=True)  # 403 blocked, 400 bad chat: retrying cannot help
