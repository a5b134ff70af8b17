"""Deciding what is due: check-ins to start, reminders to send, check-ins to close.

The database, not the timer, is the source of truth. Every pass recomputes from the config's cadences and
the stored check-ins which slot each client is owed, so a pass that runs late, twice, or on two replicas at
once does the same thing: the claim of a slot is an insert on the unique (client, slot), reminders are
counted on the check-in row, and expiry changes the status only of a check-in that is still open.

A slot is owed when it lies after the client's latest claimed slot (and after the client was added) and no
longer ago than the grace window. A slot missed by more than that, because the bot was down, is skipped
with a log line: a check-in about last Tuesday that arrives on Friday helps nobody. The line is written once
per process: nothing claims a skipped slot, so every later pass would find it missed again.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import QuietHours
from bot.runtime.housekeeping import Housekeeping
from bot.runtime.lifecycle import Lifecycle
from bot.runtime.setup import LiveSetup
from bot.scheduling.client_schedule import ClientSchedule, SlotWalks, schedule_for
from bot.scheduling.pacing import paced
from bot.store import Database, checkins, clients, coaching_sessions
from bot.timing.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=6)
#: How far back a pass looks when counting slots missed past the grace window, only for the log line.
MISSED_LOOKBACK = timedelta(days=31)
#: How often the retention purge runs when ``retention_days`` is set.
PURGE_INTERVAL = timedelta(days=1)
#: Check-ins started per transaction when many clients share a slot. Each transaction costs a few round trips
#: whatever its size, and with replicas and the database sharing a small machine's cores every round trip is a
#: context switch too: at 10,000 clients on 2 cores, 200 a batch gave two replicas 1.52–1.65x one's rate, 400
#: gave 1.61–1.79x and each claim less CPU. A SQLite writer holds the file about 0.2 s per batch.
BATCH_SIZE = 400


@dataclass(frozen=True, slots=True)
class DispatchReport:
    started: int = 0
    #: Owed but not started here: claimed by another replica or an earlier pass, or the client is paused.
    not_started: int = 0
    missed: int = 0
    #: With ``dispatch(with_schedules=True)``, the schedule of each client the pass looked at, as ``schedules``
    #: would give them: the start-up catch-up plans the timers from these instead of reading and computing all
    #: of them again (0.13 s at 10,000).
    schedules: tuple[ClientSchedule, ...] = ()


@dataclass(frozen=True, slots=True)
class SweepReport:
    reminded: int = 0
    expired: int = 0
    alerts_resent: int = 0
    digests: int = 0
    purged: int = 0
    briefs: int = 0


class Dispatcher:
    def __init__(
        self,
        *,
        setup: LiveSetup,
        database: Database,
        lifecycle: Lifecycle,
        housekeeping: Housekeeping,
        clock: Clock,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        """Dispatch starts check-ins through ``lifecycle``; the sweep reminds and expires through it too, and
        leaves the other chores to ``housekeeping``. ``setup`` gives the config in force, reloads included."""
        self._setup = setup
        self._database = database
        self._lifecycle = lifecycle
        self._housekeeping = housekeeping
        self._clock = clock
        self._grace = grace
        self._purged_at: datetime | None = None
        #: Per client, the latest missed slot already logged, so a pass logs only slots missed since.
        self._missed_logged: dict[str, datetime] = {}

    async def schedules(self, client_ids: Collection[str] | None = None) -> list[ClientSchedule]:
        """The effective schedule of each active client: config cadence plus what the database knows."""
        async with self._database.session() as session:
            facts = await clients.schedule_facts(session, client_ids)
            sessions = await coaching_sessions.recorded_sessions(session)
        config = self._setup.current.config
        return [
            schedule_for(config, c.id, sessions=sessions.get(c.id, ()), paused_until=facts[c.id].paused_until)
            async for c in paced(config.clients)
            if c.id in facts
        ]

    async def dispatch(
        self, client_ids: Collection[str] | None = None, *, with_schedules: bool = False
    ) -> DispatchReport:
        """Start the check-in each client is owed now, if any (all clients, or those named); ``with_schedules``
        keeps each client's schedule in the report (the start-up catch-up plans its timers from them). Only then:
        kept for every pass, 100,000 schedules outlived the young collections and fed full ones."""
        now = self._clock.now()
        async with self._database.session() as session:
            facts = await clients.schedule_facts(session, client_ids)
            claimed = await checkins.last_slots(session, client_ids)
            sessions = await coaching_sessions.recorded_sessions(session, client_ids)
        owed: list[tuple[str, datetime]] = []
        schedules: list[ClientSchedule] = []
        missed = 0
        config = self._setup.current.config
        walks = SlotWalks()
        async for client in paced(config.clients):
            known = facts.get(client.id)
            if known is None:
                continue  # not asked about, or no longer active
            schedule = schedule_for(
                config, client.id, sessions=sessions.get(client.id, ()), paused_until=known.paused_until
            )
            if with_schedules:
                schedules.append(schedule)
            seen_until = max(known.created_at, claimed.get(client.id, known.created_at))
            window_start = max(seen_until, now - self._grace)
            lookback = max(seen_until, now - MISSED_LOOKBACK)
            # One walk over the slots both windows hold: two cost the pass twice the slot maths.
            slots = walks.between(schedule, min(lookback, window_start), now)
            cut = bisect_right(slots, window_start)
            missed += self._log_missed(client.id, [slot for slot in slots[:cut] if slot > lookback])
            due = slots[cut:]
            if len(due) > 1:
                log.info("client %s: %d slots due, sending only the latest", client.id, len(due))
            if due:
                owed.append((client.id, due[-1]))
        started = 0
        busy: list[tuple[str, datetime]] = []
        for batch in _shuffled_batches(owed):
            won, passed_over = await self._lifecycle.claim_due(batch, skip_busy=True)
            started += len(won)
            busy += passed_over
        # Clients another replica was starting: most are claimed by now and cost one lookup; the rest start here.
        for start in range(0, len(busy), BATCH_SIZE):
            won, _ = await self._lifecycle.claim_due(busy[start : start + BATCH_SIZE], skip_busy=False)
            started += len(won)
        return DispatchReport(started, len(owed) - started, missed, tuple(schedules))

    def _log_missed(self, client_id: str, missed: list[datetime]) -> int:
        """Log the slots in ``missed`` (in order) that no earlier pass logged; return how many."""
        logged = self._missed_logged.get(client_id)
        skipped = missed if logged is None else [slot for slot in missed if slot > logged]
        if skipped:
            self._missed_logged[client_id] = skipped[-1]
            log.warning(
                "client %s: %d slot(s) up to %s missed by more than the %s grace window; not sent",
                client_id,
                len(skipped),
                skipped[-1].isoformat(),
                self._grace,
            )
        return len(skipped)

    async def sweep(self) -> SweepReport:
        """Send due reminders, close expired check-ins, repeat unacknowledged urgent alerts, send digests."""
        now = self._clock.now()
        async with self._database.session() as session:
            open_checkins = await checkins.open_checkins(session)
            zones = await clients.time_zones(session)
        config = self._setup.current.config
        reminded = expired = 0
        async for checkin in paced(open_checkins):
            client = config.clients_by_id.get(checkin.client_id)
            cadence = config.cadence_of(client) if client is not None else None
            sent_at = checkin.sent_at or checkin.created_at
            if cadence is None:  # the client left the config: nobody will remind them, so close it now
                expired += await self._lifecycle.expire(checkin.id)
                continue
            if now >= sent_at + cadence.expire_after:
                expired += await self._lifecycle.expire(checkin.id)
                continue
            number = checkin.reminders_sent + 1
            if number > cadence.reminders or now < sent_at + cadence.remind_after * number:
                continue
            if _in_quiet_hours(cadence.quiet_hours, now, ZoneInfo(zones[checkin.client_id])):
                continue  # the next sweep after the quiet hours sends it
            reminded += await self._lifecycle.remind(checkin.id, number)
        await self._housekeeping.release_waiting()
        resent = await self._housekeeping.resend_unacknowledged()
        digests = await self._housekeeping.send_due_digests()
        briefs = await self._housekeeping.send_due_briefs()
        await self._housekeeping.forget_old_events()
        return SweepReport(reminded, expired, resent, digests, await self._purge_daily(now), briefs)

    async def _purge_daily(self, now: datetime) -> int:
        """The retention purge, once a day per process (deleting is idempotent across replicas)."""
        if self._purged_at is not None and now - self._purged_at < PURGE_INTERVAL:
            return 0
        purged = await self._housekeeping.purge_expired_data()
        self._purged_at = now
        if purged is not None and purged.total:
            log.info("retention purge: %s", purged)
        return purged.total if purged is not None else 0


def _shuffled_batches(owed: list[tuple[str, datetime]]) -> list[list[tuple[str, datetime]]]:
    """``owed`` in batches of ``BATCH_SIZE``, the batches in an order of this pass's own.

    Replicas dispatching together each go through every batch. In one shared order they kept arriving at the
    batch the other was starting, passed it over, and came back for it once they were through; each in an order
    of its own, a replica mostly finds a batch either free or already done, which one read tells.
    """
    batches = [owed[start : start + BATCH_SIZE] for start in range(0, len(owed), BATCH_SIZE)]
    random.shuffle(batches)
    return batches


def _in_quiet_hours(quiet: QuietHours | None, now: datetime, zone: ZoneInfo) -> bool:
    if quiet is None:
        return False
    local = now.astimezone(zone).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end
