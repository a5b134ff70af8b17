"""What ``/healthz`` and ``/metrics`` report of the database, read once per period however many pollers ask.

Reading the database on every poll made the probes themselves a load: on SQLite each opened a transaction that
took the write lock, and 32 pollers slowed a client's answer from 1.9 s to 10 s. Here one read (the outbox depth,
which also proves the database answers) runs at a time, in a read-only session, and its result serves every poll
until it is ``max_age`` seconds old; polls arriving while it runs wait for that same read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.store import Database, outbox


@dataclass(frozen=True, slots=True)
class StoreReading:
    """The database as last read: ``problem`` is None when it answered; the depth is None when it did not."""

    problem: str | None
    outbox_depth: int | None


class StoreSnapshot:
    """The latest ``StoreReading``, refreshed on demand at most once per ``max_age`` seconds by a single task."""

    def __init__(self, database: Database, *, max_age: float, timeout: float) -> None:
        """``timeout`` bounds one read: a probe must answer even when the database does not."""
        self._database = database
        self._max_age = max_age
        self._timeout = timeout
        self._reading: StoreReading | None = None
        self._read_at = 0.0  # the loop's monotonic time the reading was taken
        self._refresh: asyncio.Task[StoreReading] | None = None

    async def current(self) -> StoreReading:
        """The reading, taken now if the last one is older than ``max_age`` (or none was taken)."""
        loop = asyncio.get_running_loop()
        if self._reading is not None and loop.time() - self._read_at < self._max_age:
            return self._reading
        if self._refresh is None:
            self._refresh = loop.create_task(self._read(), name="store-snapshot")
        # Shielded: a poller that goes away does not cancel the read the others wait for.
        return await asyncio.shield(self._refresh)

    async def close(self) -> None:
        """Let a read in flight end before the database closes (``timeout`` bounds it): cancelled mid-query, its
        connection went back to a closing pool half-used, and the pool logged the failed reset as an error."""
        if self._refresh is not None:
            await asyncio.gather(self._refresh, return_exceptions=True)
            self._refresh = None

    async def _read(self) -> StoreReading:
        try:
            try:
                async with asyncio.timeout(self._timeout), self._database.reading() as session:
                    reading = StoreReading(None, await outbox.unsent_count(session))
            except Exception as error:
                reading = StoreReading(f"database not answering ({type(error).__name__})", None)
            self._reading = reading
            self._read_at = asyncio.get_running_loop().time()
            return reading
        finally:
            self._refresh = None
