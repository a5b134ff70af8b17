"""The timer: APScheduler 3 wakes the dispatcher at each client's slots and runs the periodic sweep.

APScheduler only decides *when* to look; what is due is decided by the dispatcher from the database, which
is why the job store is the in-memory one and the timer is rebuilt from config on every start and reload.
Clients' slots are not a job each: at 10,000 clients adding 10,000 jobs, each with its own trigger, cost about
a second of every start. A heap holds each client's next slot and one job fires at the earliest of them; when
it fires, every client whose slot has come is collected and given its following slot, as a trigger per client
would have done.
APScheduler 3 cannot share a job store between processes, its persistent job store silently drops jobs it
cannot unpickle, and its default ``misfire_grace_time`` of one second silently skips runs that start late;
here every job runs however late it is (``misfire_grace_time=None``), late runs coalesce into one, and a
missed run costs nothing because the next sweep finds the same due slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Hashable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.contract.stopping import finish_or_cancel
from bot.observability.outages import OutageLog
from bot.scheduling.client_schedule import ClientSchedule, slots_after
from bot.scheduling.dispatch import Dispatcher
from bot.store import UNAVAILABLE

log = logging.getLogger(__name__)

DEFAULT_SWEEP_INTERVAL = timedelta(seconds=60)
#: How long fired client jobs are collected before one dispatch pass handles them all.
DUE_COLLECTION_DELAY = 0.5
#: The first and the longest wait between start-up catch-ups while the database is unreachable.
FIRST_START_RETRY = 1.0
LONGEST_START_RETRY = 30.0
#: Seconds ``stop`` waits for a pass under way (a sweep, a dispatch) before cancelling it.
STOP_GRACE = 5.0
_SWEEP_JOB = "sweep"
#: The one job that fires at the earliest client slot.
_SLOTS_JOB = "slots"
_CLIENT_PREFIX = "client:"
_TICK = timedelta(microseconds=1)


class SlotTimes:
    """Each client's next slot, computed by the same pure function the dispatcher and `checkin schedule` use.

    Clients with the same cadence, time zone, sessions and pauses share their slots, so a slot is computed once
    per such group and instant rather than once per client.
    """

    def __init__(self) -> None:
        self._next: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._schedules: dict[str, ClientSchedule] = {}

    def plan(self, schedules: Sequence[ClientSchedule], now: datetime) -> None:
        """Replace every client's next slot: the first slot at or after ``now``."""
        self._schedules = {schedule.client_id: schedule for schedule in schedules}
        found: dict[Hashable, datetime | None] = {}
        self._next = {}
        for schedule in schedules:
            upcoming = _slot_after(schedule, now - _TICK, found)
            if upcoming is not None:
                self._next[schedule.client_id] = upcoming
        self._heap = [(when, client_id) for client_id, when in self._next.items()]
        heapq.heapify(self._heap)

    def earliest(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[str]:
        """The clients whose slot is at or before ``now``, each moved on to its next slot after ``now``.

        Woken late (the loop was blocked, the machine slept), a client gets the next slot, not a backlog.
        """
        due: list[str] = []
        found: dict[Hashable, datetime | None] = {}
        while self._heap and self._heap[0][0] <= now:
            fired, client_id = heapq.heappop(self._heap)
            due.append(client_id)
            upcoming = _slot_after(self._schedules[client_id], max(fired, now - _TICK), found)
            if upcoming is None:
                del self._next[client_id]
                continue
            self._next[client_id] = upcoming
            heapq.heappush(self._heap, (upcoming, client_id))
        return due

    def next_slots(self) -> dict[str, datetime]:
        return dict(self._next)


def _slot_after(schedule: ClientSchedule, after: datetime, found: dict[Hashable, datetime | None]) -> datetime | None:
    """The client's first slot after ``after``; ``found`` remembers it for clients whose slots are the same."""
    key = (schedule.cadence, schedule.timezone, schedule.sessions, schedule.pauses, schedule.paused_until, after)
    if key not in found:
        upcoming = slots_after(schedule, after, 1)
        found[key] = upcoming[0] if upcoming else None
    return found[key]


class Scheduler:
    def __init__(self, dispatcher: Dispatcher, *, sweep_interval: timedelta = DEFAULT_SWEEP_INTERVAL) -> None:
        self._dispatcher = dispatcher
        self._sweep_interval = sweep_interval
        self._outage = OutageLog(log, "scheduler")
        self._due: set[str] = set()
        self._slots = SlotTimes()
        self._flush: asyncio.Task[None] | None = None
        #: Passes under way (a sweep, a dispatch of due clients): ``stop`` lets them finish before the database
        #: closes, instead of leaving them to fail against it.
        self._passes: set[asyncio.Task[None]] = set()
        #: Set by ``stop``: a job that fires after it (already submitted to the loop) starts no pass.
        self._stopping = False
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    async def start(self) -> None:
        """Catch up on slots missed while the bot was down, then plan the jobs and start the timer.

        The platforms are already connected when this runs, so clients may be answering: a database that goes
        away now is waited for, as the rest of the bot waits for it, instead of ending the process with the
        answers it has taken. Cancel the call to give up (a stop signal during the wait).
        """
        self._stopping = False
        wait = FIRST_START_RETRY
        while True:
            try:
                schedules = await self._catch_up()
                break
            except UNAVAILABLE as error:
                log.warning(
                    "start-up catch-up failed (database: %s); trying again in %.0fs", type(error).__name__, wait
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_START_RETRY)
        self._scheduler.add_job(
            self._sweep, IntervalTrigger(seconds=self._sweep_interval.total_seconds()), id=_SWEEP_JOB
        )
        self.plan(schedules)
        self._scheduler.start()

    async def _catch_up(self) -> Sequence[ClientSchedule]:
        report = await self._dispatcher.dispatch(with_schedules=True)
        log.info("start-up catch-up: %s started, %s missed past the grace window", report.started, report.missed)
        await self._dispatcher.sweep()
        # A client paused meanwhile keeps a timer until the next plan; harmless, as a timer only says when to
        # look, and the dispatch it starts reads the pause.
        return report.schedules

    def plan(self, schedules: Sequence[ClientSchedule]) -> None:
        """Replace every client's timer: called on start and whenever config or a client's sessions change."""
        self._slots.plan(schedules, datetime.now(UTC))
        self._arm()

    def _arm(self) -> None:
        """Set the slots job to fire at the earliest next slot (at once when that has passed), or remove it."""
        earliest = self._slots.earliest()
        if earliest is None:
            if self._scheduler.get_job(_SLOTS_JOB) is not None:
                self._scheduler.remove_job(_SLOTS_JOB)
            return
        self._scheduler.add_job(self._slots_due, DateTrigger(run_date=earliest), id=_SLOTS_JOB, replace_existing=True)

    async def stop(self) -> None:
        """Stop the timer; a dispatch still collecting due clients is dropped (the next start's catch-up finds
        them), and a pass already talking to the database is waited for, up to ``STOP_GRACE``.

        APScheduler's shutdown cancels the jobs it is running, so it comes last: a sweep cancelled inside a
        query rolls back harmlessly but leaves SQLAlchemy logging a traceback while it closes the cursor.
        """
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.pause()
        if self._flush is not None and self._flush not in self._passes:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
        # A pass still running after the grace is waiting on a database that is away, most likely; cancelled, it
        # rolls back, and the next start's catch-up does what it had not.
        await finish_or_cancel(set(self._passes), STOP_GRACE)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        """Whether the timer is on: false until ``start`` has caught up, and again once ``stop`` begins."""
        return bool(self._scheduler.running) and not self._stopping

    def next_runs(self) -> dict[str, datetime | None]:
        """When the sweep fires next and each client's next slot (``client:<id>``), for tests of the planning."""
        runs: dict[str, datetime | None] = {
            f"{_CLIENT_PREFIX}{client_id}": when for client_id, when in self._slots.next_slots().items()
        }
        sweep = self._scheduler.get_job(_SWEEP_JOB)
        if sweep is not None:
            runs[_SWEEP_JOB] = sweep.next_run_time
        return runs

    async def _slots_due(self) -> None:
        """Collect the clients whose slot has come and dispatch them together, then wait for the next slot.

        Many clients often share a slot (Monday 09:00); thousands of one-client passes would each pay for
        their own queries and transaction, where one pass over all of them pays once.
        """
        self._due.update(self._slots.pop_due(datetime.now(UTC)))
        self._arm()
        if self._due and (self._flush is None or self._flush.done()):
            self._flush = asyncio.create_task(self._dispatch_due(), name="dispatch-due")

    async def _dispatch_due(self) -> None:
        await asyncio.sleep(DUE_COLLECTION_DELAY)
        due, self._due = self._due, set()
        with self._pass() as going_ahead:
            if not going_ahead:
                return
            try:
                await self._dispatcher.dispatch(due)
                self._outage.succeeded()
            except Exception as error:
                self._outage.failed(error, f"the next sweep retries the {len(due)} client(s) due")

    async def _sweep(self) -> None:
        """The safety net: anything a client job missed, reminders and expiry."""
        with self._pass() as going_ahead:
            if not going_ahead:
                return
            try:
                await self._dispatcher.dispatch()
                await self._dispatcher.sweep()
                self._outage.succeeded()
            except Exception as error:
                self._outage.failed(error, "retrying at the next sweep")

    @contextlib.contextmanager
    def _pass(self) -> Iterator[bool]:
        """Count the current task as a pass ``stop`` waits for; yields False once a stop has begun (skip it)."""
        task = asyncio.current_task()
        assert task is not None
        self._passes.add(task)
        try:
            yield not self._stopping
        finally:
            self._passes.discard(task)
