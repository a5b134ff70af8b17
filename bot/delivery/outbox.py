"""Sending what the outbox holds.

Every outgoing message was written to the ``outbox`` table in the same transaction as the state change that
caused it, so a crash can never lose a message nor send one for a change that was rolled back. This worker
claims due rows under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the work and a
crashed replica's rows are taken over when the lease runs out), hands them to the platform adapter, and
records the outcome.

Different recipients are served concurrently, because one request at a time cannot reach a platform's rate
with real network latency; one recipient's messages still go strictly in order, since the claim never hands
out a message while an earlier one to the same recipient is unsent. Before each send the worker waits for
the platform's ``PlatformLimiter``, so the platform's published limits are kept rather than discovered.

Delivery is at-least-once. A crash after the platform accepted a message but before the row is marked sent
re-sends it after the lease expires, and a send that timed out after the request went out (``ambiguous``) is
retried as well: neither Slack nor Telegram offers an idempotency key for posting a message, so a duplicate
is the price of never losing one. Without a crash a live worker does not let another re-send its rows: it
renews the leases of the rows it holds while their sends are in flight, and keeps the deliveries it could not
record (the database failed) until it has recorded them.

Failures are retried with full-jitter exponential backoff for ``give_up_after`` (a day by default) from when
the message was queued, never sooner than a platform's own ``Retry-After``; a wait the platform or our own
rate limit asked for is not a failure and does not count as an attempt. A platform-wide 429 also pauses every
send to that platform. A message given up (refused for good, or still failing past the horizon) takes the
messages queued behind it to the same recipient with it, so none of them arrives without it; each is logged
as an error, a client's check-in among them is marked undelivered, and a permanent refusal is also reported
through ``on_permanent_failure``. A client's privacy notice is recorded as given only once it was delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.contract.adapter import Adapter, SendError
from bot.contract.messages import OutboundMessage
from bot.contract.stopping import finish_or_cancel
from bot.delivery.attachments import Attachments
from bot.delivery.outgoing import PRIVACY_NOTICE_FOR
from bot.delivery.ratelimit import PlatformLimiter, RateLimits
from bot.observability.metrics import Metrics
from bot.observability.outages import OutageLog
from bot.store import Database, Session, clients, outbox
from bot.timing.clock import Clock

log = logging.getLogger(__name__)

#: How long a message that keeps failing is retried, from when it was queued (``outbox.give_up_after``).
GIVE_UP_AFTER = timedelta(hours=24)
BASE_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=30)
#: While sends are under way, deliveries wait at most this long (seconds) to be recorded together.
RECORD_DELAY = 0.25
#: Seconds ``stop`` waits for the worker to reach its next step before cancelling it wherever it is.
STOP_GRACE = 2.0

Sleep = Callable[[float], Awaitable[None]]
PermanentFailureHandler = Callable[[OutboundMessage, str], Awaitable[None]]
#: Told of a row given up at the horizon, with how many rows to the same recipient were given up with it.
GivenUpHandler = Callable[[OutboundMessage, int], Awaitable[None]]


def backoff(attempt: int, retry_after: float | None, rng: random.Random) -> timedelta:
    """Full-jitter exponential backoff, never shorter than what the platform asked for."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(attempt - 1, 0)))
    delay = timedelta(seconds=rng.uniform(0, ceiling.total_seconds()))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


async def _abandon(sending: set[asyncio.Task[None]]) -> None:
    """Cancel sends under way, as a crash would end them; their rows are re-sent once their leases run out."""
    for task in sending:
        task.cancel()
    await asyncio.gather(*sending, return_exceptions=True)


async def _ignore_given_up(message: OutboundMessage, count: int) -> None:
    """The default for a worker nobody asked to report messages given up at the horizon."""


async def _ignore_permanent_failure(message: OutboundMessage, reason: str) -> None:
    """The default: the failed row itself is the record."""


class _Sends:
    """The sends under way, and a wait for the next to finish whose cost does not grow with their number.

    ``asyncio.wait(FIRST_COMPLETED)`` adds and then removes a callback on every task at each call; with the
    worker waking once per message and up to ``concurrency`` sends held for their turn, that was a loop over
    all of them per message sent. Here each task reports itself once, when it finishes.
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._finished: list[asyncio.Task[None]] = []
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.tasks)

    def start(self, send: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(send)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._finished.append(task)
        _resolve(self._waiter)

    async def finished(self, *, within: float) -> list[asyncio.Task[None]]:
        """The sends that finished since the last call, waiting up to ``within`` seconds for one."""
        if not self._finished:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(within, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        finished, self._finished = self._finished, []
        return finished


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A leased row: its message, the failed attempts before this one plus one, and when it was queued."""

    outbox_id: int
    message: OutboundMessage
    attempts: int
    created_at: datetime
    #: The client this message gives the privacy notice to, if it is that message.
    notice_for: str | None


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        *,
        worker_id: str,
        rate_limits: Mapping[str, RateLimits] | None = None,
        concurrency: int = 64,
        on_permanent_failure: PermanentFailureHandler = _ignore_permanent_failure,
        on_given_up: GivenUpHandler = _ignore_given_up,
        sleep: Sleep = asyncio.sleep,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        give_up_after: timedelta = GIVE_UP_AFTER,
        renew_every: float | None = None,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``rate_limits`` paces each platform named in it; a platform left out (the console) is not paced.

        ``concurrency`` bounds the sends in flight. It must cover the platform's rate times how long a row is
        held: with a recipient's next message waiting up to a second for its chat, 30 msg/s needs about 40.

        ``sleep`` waits for the rate limiter in ``clock``'s time: tests with a ``ManualClock`` pass one that
        advances it. ``on_permanent_failure`` runs once for each row that failed permanently, after it is marked
        failed; a row given up after ``give_up_after`` of transient failures does not say the recipient is
        unreachable, so it is not reported there (it is logged and its check-in marked); ``on_given_up`` runs
        for it instead, with how many rows were given up with it, so the client's coach can be told.

        ``renew_every`` is how often, in seconds of real time, the leases of rows still being sent are renewed
        (a third of the lease by default), so a send slower than the lease is not taken over and sent again.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._database = database
        self._adapters = adapters
        self._clock = clock
        self._worker_id = worker_id
        self._outage = OutageLog(log, "outbox worker")
        self._rate_limits = dict(rate_limits or {})
        self._limiters: dict[str, PlatformLimiter] = {}
        self._turnstiles: dict[str, asyncio.Lock] = {}
        self._concurrency = concurrency
        #: Claim only when this many sending slots are free (or none is busy), and record once this many sent.
        self._batch_floor = max(1, min(batch_size, concurrency // 4))
        self._on_permanent_failure = on_permanent_failure
        self._on_given_up = on_given_up
        self._sleep = sleep
        self._batch_size = batch_size
        self._lease = lease
        self._give_up_after = give_up_after
        self._renew_every = renew_every if renew_every is not None else lease.total_seconds() / 3
        # A row waits for its turn while leased; a wait longer than this goes back to the table instead, so
        # the lease cannot run out under a row that is merely waiting.
        self._max_hold = lease.total_seconds() / 2
        self._poll_interval = poll_interval
        self._rng = rng or random.Random()
        self._metrics = metrics or Metrics()
        self._wake = asyncio.Event()
        #: Set by ``stop``: the worker ends at its next step instead of being cancelled mid-transaction.
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        #: Deliveries not yet recorded; ``drain`` records them together before it claims more rows, and keeps
        #: them until the database took them.
        self._delivered: list[tuple[_Claimed, str]] = []
        #: Rows whose send is under way; with ``_delivered``, the rows whose leases are renewed.
        self._in_flight: set[int] = set()
        #: Whether a stop interrupted ``_record_delivered`` (it is then not started again on the way out).
        self._recording = False
        #: Images drawn after their message's commit; a held message is sent once its image is attached.
        self.attachments = Attachments(database, clock)
        self.attachments.notify(self.wake)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        """Stop soon; sends in flight are abandoned as in a crash and their rows re-sent after the lease.

        The worker is asked to stop between two steps, so a claim or a recording under way ends with its
        transaction; only a worker that does not reach the next step within ``STOP_GRACE`` is cancelled wherever it
        is (cancelled mid-transaction, its connection went back to a closing pool half-used).
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await finish_or_cancel({self._task}, STOP_GRACE)
            self._task = None
            self._stopping = False
        await self.attachments.close()

    def wake(self) -> None:
        """Send soon: called after a transaction that enqueued messages has committed."""
        self._wake.set()

    async def drain(self) -> int:
        """Send everything due now, including what each send unblocks; return how many rows were attempted.

        Rows are claimed whenever a sending slot frees up, rather than batch after batch, so one slow
        recipient never holds up the others. With nothing left to send while an image is still being drawn,
        it waits for the image, so the message held for it goes in the same drain.
        """
        attempted = 0
        sending = _Sends()
        renewer = asyncio.create_task(self._renew_leases(), name="outbox-lease-renewal")
        self._recording = False
        loop = asyncio.get_running_loop()
        record_by = 0.0
        released = self.attachments.released
        try:
            while not self._stopping:
                # Settle first: a recipient's next message becomes claimable only once this one is recorded.
                # Recording and claiming each cost a transaction, so while sends are under way they wait for a
                # batch (or, for recording, for RECORD_DELAY) and then share one transaction: one of each per
                # message made the database the cost of paced sending.
                if not sending or len(self._delivered) >= self._batch_floor or loop.time() >= record_by:
                    room = self._concurrency - len(sending)
                    wanted = room >= self._batch_floor or (room > 0 and not sending)
                    released = self.attachments.released
                    for claimed in await self._settle(min(room, self._batch_size) if wanted else 0):
                        sending.start(self._deliver(claimed))
                        attempted += 1
                    record_by = loop.time() + RECORD_DELAY
                if not sending:
                    if self.attachments.released != released:
                        continue  # a held message was let go while the claim looked: claim again
                    if not self.attachments.pending:
                        return attempted
                    await self.attachments.wait_for_one()
                    continue
                for task in await sending.finished(within=RECORD_DELAY):
                    if not task.cancelled() and (error := task.exception()) is not None:
                        # The row stays leased and is retried once the lease runs out.
                        log.error("outbox: recording a send failed", exc_info=error)
            # Asked to stop: what is still being sent is abandoned as in a crash; what went out is recorded.
            await _abandon(sending.tasks)
            await self._settle(0)
            return attempted
        except asyncio.CancelledError:
            await _abandon(sending.tasks)
            if not self._recording:  # a recording the stop interrupted is not tried again: stopping must end
                await asyncio.shield(self._settle(0))  # what went out is recorded, not re-sent
            raise
        except BaseException:
            # A failed claim must not abandon sends already under way: that would only cause duplicates.
            await asyncio.gather(*sending.tasks, return_exceptions=True)
            raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

    async def _settle(self, limit: int) -> list[_Claimed]:
        """Record the deliveries so far and lease up to ``limit`` rows, in one transaction.

        On a database error nothing is leased and the deliveries stay listed, to be recorded next time.
        """
        delivered = list(self._delivered)
        if not delivered and limit <= 0:
            return []
        now = self._clock.now()
        self._recording = bool(delivered)  # left set if a stop cancels the recording
        try:
            async with self._database.transaction() as session:
                if delivered:
                    await outbox.mark_sent(session, [(claimed.outbox_id, ref) for claimed, ref in delivered], now)
                    notices = [claimed.notice_for for claimed, _ in delivered if claimed.notice_for is not None]
                    await clients.mark_privacy_notice_sent(session, notices, now)
                claimed = await self._lease_rows(session, now, limit) if limit > 0 else []
        except Exception:
            self._recording = False
            raise
        self._recording = False
        del self._delivered[: len(delivered)]  # sends finishing meanwhile were appended after them
        self._in_flight.update(c.outbox_id for c in claimed)
        return claimed

    async def _renew_leases(self) -> None:
        """Keep the leases of the rows this worker holds from running out while it still works on them."""
        while True:
            await asyncio.sleep(self._renew_every)  # real time: the lease protects against real slowness
            held = self._in_flight | {claimed.outbox_id for claimed, _ in self._delivered}
            if not held:
                continue
            try:
                async with self._database.transaction() as session:
                    await outbox.renew_leases(session, held, self._worker_id, self._clock.now() + self._lease)
            except Exception as error:  # the next renewal may succeed; if none does, the rows may go twice
                log.warning("outbox: renewing the leases of %d rows failed: %s", len(held), type(error).__name__)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.drain()
                self._outage.succeeded()
            except Exception as error:
                self._outage.failed(error, "retrying after the poll interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()

    async def _lease_rows(self, session: Session, now: datetime, limit: int) -> list[_Claimed]:
        """Lease rows; each comes with its attempt count, which the lease has already incremented."""
        rows = await outbox.due_outbox(
            session, now, limit, self._worker_id, self._lease, give_up_unreadable_after=self._give_up_after
        )
        return [
            _Claimed(
                r.id,
                OutboundMessage.from_payload(r.platform, r.recipient, r.payload, r.id),
                r.attempts,
                r.created_at,
                r.payload.get(PRIVACY_NOTICE_FOR),
            )
            for r in rows
        ]

    def _turnstile(self, platform: str) -> asyncio.Lock:
        return self._turnstiles.setdefault(platform, asyncio.Lock())

    def _limiter(self, platform: str) -> PlatformLimiter:
        limiter = self._limiters.get(platform)
        if limiter is None:
            limiter = self._limiters[platform] = PlatformLimiter(self._rate_limits.get(platform), self._clock)
        return limiter

    async def _deliver(self, claimed: _Claimed) -> None:
        try:
            await self._send(claimed)
        finally:
            self._in_flight.discard(claimed.outbox_id)

    async def _send(self, claimed: _Claimed) -> None:
        message = claimed.message
        adapter = self._adapters.get(message.platform)
        if adapter is None:
            error = SendError(f"no adapter for platform '{message.platform}' is running", permanent=True)
            await self._record_failure(claimed, error)
            return
        postponed_to = await self._wait_for_turn(message)
        if postponed_to is not None:
            async with self._database.transaction() as session:
                await outbox.mark_retry(
                    session, claimed.outbox_id, "waiting for the rate limit", postponed_to, counted=False
                )
            return
        try:
            reference = await adapter.send(message)
        except SendError as error:
            await self._record_failure(claimed, error)
            return
        except Exception as error:  # an adapter bug must not stop the worker; treat it as transient
            log.exception("outbox: adapter %s raised while sending row %s", message.platform, claimed.outbox_id)
            await self._record_failure(claimed, SendError(type(error).__name__))
            return
        self._delivered.append((claimed, reference))

    async def _wait_for_turn(self, message: OutboundMessage) -> datetime | None:
        """Wait until the rate limits allow this send; return when to retry instead if that is too far off."""
        limiter = self._limiter(message.platform)
        while (wait := limiter.recipient_wait(message.recipient)) > 0:
            if wait > self._max_hold:
                return self._clock.now() + timedelta(seconds=wait)
            await self._sleep(wait)
        # One sender at a time waits for the platform's next slot and counts its send on the way out, so the
        # slot cannot be taken twice and a sender woken late pushes the next one back instead of bunching.
        async with self._turnstile(message.platform):
            while (wait := limiter.platform_wait()) > 0:
                if wait > self._max_hold:
                    return self._clock.now() + timedelta(seconds=wait)
                await self._sleep(wait)
            limiter.record_send(message.recipient)
        return None

    async def _record_failure(self, claimed: _Claimed, error: SendError) -> None:
        message, outbox_id = claimed.message, claimed.outbox_id
        if error.scope == "global" and error.retry_after is not None:
            log.warning("outbox: %s asked for a pause of %.1fs for every send", message.platform, error.retry_after)
            self._limiter(message.platform).pause(error.retry_after)
        now = self._clock.now()
        if error.permanent or now - claimed.created_at >= self._give_up_after:
            await self._give_up(claimed, error, now)
            return
        # A wait the platform asked for is not a failure: it neither counts as an attempt nor lengthens the backoff.
        counted = error.retry_after is None
        delay = backoff(claimed.attempts if counted else claimed.attempts - 1, error.retry_after, self._rng)
        if error.ambiguous:
            log.warning(
                "outbox: row %s may have been delivered (%s); retrying in %.1fs, so it may arrive twice",
                outbox_id,
                error.reason,
                delay.total_seconds(),
            )
        else:
            log.info("outbox: row %s will be retried in %.1fs: %s", outbox_id, delay.total_seconds(), error.reason)
        async with self._database.transaction() as session:
            await outbox.mark_retry(session, outbox_id, error.reason, now + delay, counted=counted)
        self._metrics.send_failures.labels(message.platform, "ambiguous" if error.ambiguous else "retry").inc()

    async def _give_up(self, claimed: _Claimed, error: SendError, now: datetime) -> None:
        """Fail the row and those queued behind it, log each for the operator, report a permanent refusal."""
        message = claimed.message
        reason = error.reason if error.permanent else f"still failing after {self._give_up_after}: {error.reason}"
        async with self._database.transaction() as session:
            given_up = await outbox.give_up(session, claimed.outbox_id, reason, now)
        self._metrics.send_failures.labels(message.platform, "permanent").inc()
        for row in given_up:
            # A coach's message names the coach: an alert that never arrives must reach the operator's eye.
            log.error(
                "outbox: gave up on row %s to %s%s%s after %s attempt(s): %s",
                row.outbox_id,
                f"{row.audience} {row.person_id} on " if row.person_id is not None else "",
                message.platform,
                f" (check-in {row.checkin_id})" if row.checkin_id is not None else "",
                claimed.attempts,
                reason if row.outbox_id == claimed.outbox_id else f"an earlier message failed: {reason}",
            )
        # Only the worker that settled the row reports it, so the report is made once.
        if given_up and error.permanent:
            await self._report_permanent_failure(message, error.reason)
        elif given_up:
            await self._report_given_up(message, len(given_up))

    async def _report_given_up(self, message: OutboundMessage, count: int) -> None:
        try:
            await self._on_given_up(message, count)
        except Exception:
            log.exception("outbox: reporting row %s given up raised", message.outbox_id)

    async def _report_permanent_failure(self, message: OutboundMessage, reason: str) -> None:
        try:
            await self._on_permanent_failure(message, reason)
        except Exception:
            log.exception("outbox: reporting the failure of row %s raised", message.outbox_id)
