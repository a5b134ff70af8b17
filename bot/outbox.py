"""Sending what the outbox holds.

Every outgoing message was written to the ``outbox`` table in the same transaction as the state change that
caused it, so a crash can never lose a message nor send one for a change that was rolled back. This worker
claims due rows under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the work and a
crashed replica's rows are taken over when the lease runs out), hands them to the platform adapter, and
records the outcome.

Delivery is at-least-once: a crash after the platform accepted a message but before the row is marked sent
re-sends it after the lease expires. Failures are retried with exponential backoff and jitter, honouring a
platform's own ``Retry-After``; permanent failures stop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from adapters.base import Adapter, SendError
from bot.clock import Clock
from bot.messages import OutboundMessage
from bot.store import Database, repository

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=30)


def backoff(attempt: int, retry_after: float | None, rng: random.Random) -> timedelta:
    """Full-jitter exponential backoff, never shorter than what the platform asked for."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(attempt - 1, 0)))
    delay = timedelta(seconds=rng.uniform(0, ceiling.total_seconds()))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        *,
        worker_id: str,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._database = database
        self._adapters = adapters
        self._clock = clock
        self._worker_id = worker_id
        self._batch_size = batch_size
        self._lease = lease
        self._poll_interval = poll_interval
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Send soon: called after a transaction that enqueued messages has committed."""
        self._wake.set()

    async def drain(self) -> int:
        """Send everything due now, batch after batch; return how many rows were attempted."""
        attempted = 0
        while batch := await self._claim():
            for message, attempts in batch:
                await self._deliver(message, attempts)
            attempted += len(batch)
        return attempted

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox worker: a pass failed; retrying after the poll interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def _claim(self) -> list[tuple[OutboundMessage, int]]:
        """Lease a batch; each row comes with its attempt count, which the lease has already incremented."""
        async with self._database.transaction() as session:
            rows = await repository.due_outbox(
                session, self._clock.now(), self._batch_size, self._worker_id, self._lease
            )
            return [(OutboundMessage.from_payload(r.platform, r.recipient, r.payload, r.id), r.attempts) for r in rows]

    async def _deliver(self, message: OutboundMessage, attempts: int) -> None:
        assert message.outbox_id is not None
        adapter = self._adapters.get(message.platform)
        try:
            if adapter is None:
                raise SendError(f"no adapter for platform '{message.platform}' is running", permanent=True)
            reference = await adapter.send(message)
        except SendError as error:
            await self._record_failure(message.outbox_id, attempts, error)
            return
        except Exception as error:  # an adapter bug must not stop the worker; treat it as transient
            log.exception("outbox: adapter %s raised while sending row %s", message.platform, message.outbox_id)
            await self._record_failure(message.outbox_id, attempts, SendError(type(error).__name__))
            return
        async with self._database.transaction() as session:
            await repository.mark_sent(session, message.outbox_id, reference, self._clock.now())

    async def _record_failure(self, outbox_id: int, attempts: int, error: SendError) -> None:
        async with self._database.transaction() as session:
            if error.permanent or attempts >= MAX_ATTEMPTS:
                log.warning("outbox: row %s failed for good after %s attempts: %s", outbox_id, attempts, error.reason)
                await repository.mark_failed(session, outbox_id, error.reason)
                return
            delay = backoff(attempts, error.retry_after, self._rng)
            log.info("outbox: row %s will be retried in %.1fs: %s", outbox_id, delay.total_seconds(), error.reason)
            await repository.mark_retry(session, outbox_id, error.reason, self._clock.now() + delay)
