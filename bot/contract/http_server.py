"""The one way the bot serves HTTP (Slack HTTP mode, the Telegram webhook, ``/healthz`` and ``/metrics``), hardened
against clients that connect and then send slowly or not at all.

aiohttp alone keeps such a connection open for an hour and has no limit on how many it holds: a few hundred
slow connections (slowloris) used up the process's file descriptors, and signed updates from Slack and
Telegram then timed out. Here every server gets the same ``HttpLimits``:

- a connection must deliver a request's head within ``header_timeout`` of opening (or of its first byte after
  a response), and a request its body within another ``header_timeout``, or it is closed (408 for a body);
- a kept-alive connection waiting for its next request is closed after ``idle_timeout``;
- at most ``max_connections`` are open at once: a new connection beyond that closes the oldest connection that
  is not handling a request (a slow or idle one), so slow connections cannot lock out a signed update; when
  every open connection is handling a request, the new one is closed instead;
- a body larger than ``max_body_bytes`` is refused with 413 before it is read whole.

It lives in ``bot.contract`` because both the adapters (which may import nothing else of the core) and
``bot.observability`` serve HTTP, and because it knows nothing of either: routes in, a running server out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may hold of a server; the defaults suit Slack's and Telegram's requests (a few KiB)."""

    #: Seconds a request's head may take to arrive (from the connection's opening or its first byte), and its body.
    header_timeout: float = 10.0
    #: Seconds a kept-alive connection may wait for its next request.
    idle_timeout: float = 60.0
    #: Connections open at once; each holds a file descriptor.
    max_connections: int = 256
    #: The largest request body accepted (413 beyond it).
    max_body_bytes: int = 1024 * 1024


#: The limits a server runs under when its caller names none.
DEFAULT_LIMITS = HttpLimits()


async def start_guarded_server(
    routes: Iterable[web.RouteDef],
    *,
    what: str,
    listen: str,
    port: int,
    limits: HttpLimits,
    shutdown_timeout: float = 60.0,
    mount: Callable[[web.Application], None] | None = None,
) -> web.AppRunner:
    """Serve ``routes`` on ``listen:port`` under ``limits``; the runner's ``cleanup`` stops it, waiting up to
    ``shutdown_timeout`` seconds for requests in flight. ``OSError`` when the address cannot be had (the caller
    words it for its operator); nothing is left open then. ``what`` names the server in log lines; ``mount``
    adds a whole sub-site (routes and its own middleware) under the same limits."""
    connections = _Connections(what, limits)
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[connections.middleware])
    app.router.add_routes(routes)
    if mount is not None:
        mount(app)
    runner = web.AppRunner(
        app, shutdown_timeout=shutdown_timeout, keepalive_timeout=limits.idle_timeout, access_log=None
    )
    await runner.setup()
    try:
        await _GuardedSite(runner, connections, listen, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


class _Connection(asyncio.Protocol):
    """Stands in front of aiohttp's protocol for one connection, to close it when it is too slow.

    The deadline runs while the connection is not handling a request; the middleware tells it when a request
    starts (its head has arrived) and ends.
    """

    def __init__(self, inner: asyncio.Protocol, connections: _Connections) -> None:
        self._inner = inner
        self._connections = connections
        self.transport: asyncio.Transport | None = None
        self.requests = 0  # requests being handled on it (pipelining may make it more than one)
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for_next = False  # after a response: idle until the next request's first byte

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self._connections.admit(self):
            transport.abort()
            return
        self._admitted = True
        self._inner.connection_made(transport)
        self._arm(self._connections.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_next and not self.requests:
            self._waiting_for_next = False
            self._arm(self._connections.limits.header_timeout)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._connections.forget(self)
        if self._admitted:
            self._inner.connection_lost(exc)

    def request_started(self) -> None:
        self.requests += 1
        self._disarm()

    def request_finished(self) -> None:
        self.requests -= 1
        if not self.requests:
            self._waiting_for_next = True
            self._arm(self._connections.limits.idle_timeout)

    def close(self) -> None:
        """Drop the connection now (it is too slow, or makes room for a new one)."""
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.requests:
            self.close()


class _Connections:
    """The open connections of one server, oldest first, and the middleware that sees their requests."""

    def __init__(self, what: str, limits: HttpLimits) -> None:
        self.what = what
        self.limits = limits
        self._open: dict[asyncio.BaseTransport, _Connection] = {}  # insertion order is age
        self._full = False  # logged when the cap is first reached, not per connection, so an attack cannot flood logs

    def admit(self, connection: _Connection) -> bool:
        """Room for ``connection``: at the cap the oldest one not handling a request makes way; none, refused."""
        if len(self._open) >= self.limits.max_connections:
            if not self._full:
                self._full = True
                log.warning(
                    "%s: %d connections open, the limit; the oldest idle ones are closed to make room",
                    self.what,
                    self.limits.max_connections,
                )
            idle = next((open_ for open_ in self._open.values() if not open_.requests), None)
            if idle is None:
                return False
            self.forget(idle)
            idle.close()
        assert connection.transport is not None
        self._open[connection.transport] = connection
        return True

    def forget(self, connection: _Connection) -> None:
        if connection.transport is not None and self._open.get(connection.transport) is connection:
            del self._open[connection.transport]
        if self._full and len(self._open) < self.limits.max_connections // 2:
            self._full = False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Mark the connection busy while its request is handled, and read the body under the header timeout."""
        connection = self._open.get(request.transport) if request.transport is not None else None
        if connection is not None:
            connection.request_started()
        try:
            if request.body_exists:
                try:
                    async with asyncio.timeout(self.limits.header_timeout):
                        await request.read()  # kept on the request: the handler's read or json() uses it
                except TimeoutError:
                    response = web.Response(status=408, text="request body too slow")
                    response.force_close()
                    return response
            return await handler(request)
        finally:
            if connection is not None:
                connection.request_finished()


class _GuardedSite(web.BaseSite):
    """A TCP site whose connections go through ``_Connection`` (aiohttp's own TCPSite hands them straight on)."""

    __slots__ = ("_connections", "_host", "_port")

    def __init__(self, runner: web.AppRunner, connections: _Connections, host: str, port: int) -> None:
        super().__init__(runner)
        self._connections = connections
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(server(), self._connections),
            self._host,
            self._port,
            backlog=min(self._connections.limits.max_connections, 1024),
            reuse_address=True,
        )
