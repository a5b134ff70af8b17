"""python-telegram-bot's HTTP requests over aiohttp instead of httpx, for the Bot API calls that send.

The library builds every request, reads every answer and maps Telegram's refusals to its errors
(``BaseRequest._request_wrapper``: 429 ``RetryAfter``, 403 ``Forbidden``, 400 ``BadRequest``); a request class
only moves bytes (``BaseRequest`` is the library's documented place to swap the HTTP client). Its own,
``HTTPXRequest``, cost about 2 ms of CPU per message on the benchmark machine in httpx, httpcore and anyio
(request building, cookies, the anyio stream layer), against about 1 ms here: at Telegram's 30 messages a second
that was most of the bot's CPU while sending (``benchmarks/sending.py``).

What it keeps from ``HTTPXRequest``: one connection pool for every call; no retry of its own (aiohttp re-sends
only idempotent methods on a dropped keep-alive connection, and every Bot API call is a POST), so a dropped
send is the outbox's to retry; every timeout is ``TimedOut`` (the outbox treats it as ambiguous: the message
may have gone) and every other transport failure ``NetworkError``; certifi's certificates, as httpx verifies
with; a proxy named in the environment (``HTTPS_PROXY``, ``NO_PROXY``), as httpx honours, looked up once per
host rather than per call. Unlike httpx, aiohttp has no write timeout of its own, so a call is also bounded as
a whole by the sum of its timeouts.
"""

from __future__ import annotations

import functools
import ssl
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: Connections kept to the Bot API at most, as ``HTTPXRequest``'s default.
POOL_SIZE = 256
#: Seconds a call waits for a free connection, as ``HTTPXRequest``'s default.
POOL_TIMEOUT = 1.0


@functools.cache
def _env_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for ``scheme`` URLs to ``host``, if any."""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme)


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """Bot API calls over one ``aiohttp.ClientSession``, opened by ``initialize`` inside the event loop."""

    def __init__(self, *, timeout: float, media_write_timeout: float = 20.0, pool_size: int = POOL_SIZE) -> None:
        """``timeout`` is the connect, read and write timeout; an upload's write gets ``media_write_timeout``."""
        self._timeout = timeout
        self._media_write_timeout = media_write_timeout
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._pool_size, ssl=ssl.create_default_context(cafile=certifi.where())
                ),
                # The Bot API sets no cookies; not keeping a jar saves reading every answer's headers for them.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:  # as ``HTTPXRequest``, usable before ``initialize`` (inside the event loop)
            await self.initialize()
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is shut down")
        files = request_data is not None and request_data.contains_files
        read = _given(read_timeout, self._timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._timeout)
        connect = _given(connect_timeout, self._timeout)
        pool = _given(pool_timeout, POOL_TIMEOUT)
        parts = (read, write, connect, pool)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        where = urlsplit(url)
        try:
            async with session.request(
                method,
                url,
                data=_body(request_data),
                headers={"User-Agent": self.USER_AGENT},
                timeout=timeout,
                proxy=_env_proxy(where.scheme, where.hostname or ""),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's own timeouts are TimeoutErrors too
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # Only the error's kind and text: a URL in it would carry the bot token.
            text = str(error).replace(url, "<Bot API URL>")
            raise NetworkError(f"aiohttp.{type(error).__name__}: {text}") from error


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters form-encoded, as ``HTTPXRequest`` sends them, or as multipart with the files."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
