"""What the sweep does besides reminders and expiry: release what waited for a coach, repeat unacknowledged
urgent alerts, send digests, forget old inbound event ids and apply the retention period.

Each is safe to run on every replica at every pass: what was done is recorded in the database, in the same
transaction as the messages it queues.
"""

from __future__ import annotations

from datetime import timedelta

from bot.delivery.outbox import OutboxWorker
from bot.runtime.setup import LiveSetup
from bot.store import Database, admin, events
from bot.timing.clock import Clock

#: How long an inbound event id is remembered. Slack re-delivers within five minutes and Telegram re-sends
#: unconfirmed updates for a day at most, so a week leaves a wide margin.
EVENT_MEMORY = timedelta(days=7)


class Housekeeping:
    def __init__(self, *, database: Database, clock: Clock, outbox: OutboxWorker, setup: LiveSetup) -> None:
        self._database = database
        self._clock = clock
        self._outbox = outbox
        self._setup = setup

    async def release_waiting(self) -> int:
        """Queue what waited for coaches who can now be reached (a Slack identity configured, a Telegram invite
        redeemed on another replica) or whose quiet hours are over; return how many messages."""
        async with self._database.transaction() as session:
            released = await self._setup.current.notices.release_waiting(session, self._clock.now())
        if released:
            self._outbox.wake()
        return released

    async def resend_unacknowledged(self) -> int:
        """Send each urgent alert nobody acknowledged in time once more (see ``CoachNotices``)."""
        async with self._database.transaction() as session:
            resent = await self._setup.current.notices.resend_unacknowledged(session, self._clock.now())
        if resent:
            self._outbox.wake()
        return resent

    async def send_due_digests(self) -> int:
        """Queue each coach's digest once its period has begun; return how many were queued."""
        queued = await self._setup.current.notices.queue_due_digests(self._database, self._clock.now())
        if queued:
            self._outbox.wake()
        return queued

    async def send_due_briefs(self) -> int:
        """Queue each pre-session brief whose time has come (see ``SessionBriefs``); return how many."""
        queued = await self._setup.current.briefs.queue_due_briefs(self._database, self._clock.now())
        if queued:
            self._outbox.wake()
        return queued

    async def forget_old_events(self) -> int:
        """Keep the inbound de-duplication table small: drop event ids no platform will re-deliver."""
        async with self._database.transaction() as session:
            return await events.forget_processed_events(session, self._clock.now() - EVENT_MEMORY)

    async def purge_expired_data(self) -> admin.Purged | None:
        """Apply ``retention_days``: delete what is older (see ``admin.purge_older_than``); None when unset."""
        retention_days = self._setup.current.config.retention_days
        if retention_days is None:
            return None
        cutoff = self._clock.now() - timedelta(days=retention_days)
        async with self._database.transaction() as session:
            return await admin.purge_older_than(session, cutoff)
