"""A TCP proxy on 127.0.0.1 that a test can cut, to give a process a real database outage.

The bot under test is pointed at the proxy's port instead of PostgreSQL's. ``cut()`` closes every connection
through the proxy at once (the driver sees the server go away mid-query, as when PostgreSQL restarts or a
network path fails) and refuses new ones until ``restore()``: a connection attempt is accepted and closed at
once, which the driver reports as a connection failure. Nothing in the bot is patched; it meets the outage
exactly as it would meet a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

CHUNK = 65536


class TcpProxy:
    """``async with TcpProxy(host, port) as proxy``: forward ``proxy.port`` to ``host:port`` until cut."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.open = True
        self.port = 0
        #: Connections cut or refused, for the report.
        self.cut_connections = 0
        self.refused = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def cut(self) -> None:
        """Close every connection now and refuse new ones: the database is gone for whoever uses the proxy."""
        self.open = False
        self.cut_connections += len(self._writers) // 2
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, not a polite close
        self._writers.clear()

    def restore(self) -> None:
        """Accept and forward connections again."""
        self.open = True

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if not self.open:
            self.refused += 1
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        if not self.open:  # cut while connecting
            server_writer.transport.abort()
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))
        link = asyncio.current_task()
        assert link is not None
        self._links.add(link)
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            self._links.discard(link)
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
