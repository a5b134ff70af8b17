"""The timer: APScheduler 3 wakes the dispatcher at each client's slots and runs the periodic sweep.

APScheduler only decides *when* to look; what is due is decided by the dispatcher from the database, which
is why the job store is the in-memory one and jobs are rebuilt from config on every start and reload.
APScheduler 3 cannot share a job store between processes, its persistent job store silently drops jobs it
cannot unpickle, and its default ``misfire_grace_time`` of one second silently skips runs that start late;
here every job runs however late it is (``misfire_grace_time=None``), late runs coalesce into one, and a
missed run costs nothing because the next sweep finds the same due slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

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
_SWEEP_JOB = "sweep"
_CLIENT_JOB_PREFIX = "client:"


class SlotTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """Fires at a client's slots, computed by the same pure function the dispatcher and `checkin schedule` use."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: ClientSchedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = previous_fire_time if previous_fire_time is not None else now - timedelta(microseconds=1)
        upcoming = slots_after(self.schedule, max(after, now - timedelta(microseconds=1)), 1)
        return upcoming[0] if upcoming else None

    def __str__(self) -> str:
        return f"slots of {self.schedule.client_id}"


class Scheduler:
    def __init__(self, dispatcher: Dispatcher, *, sweep_interval: timedelta = DEFAULT_SWEEP_INTERVAL) -> None:
        self._dispatcher = dispatcher
        self._sweep_interval = sweep_interval
        self._due: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
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
        report = await self._dispatcher.dispatch()
        log.info("start-up catch-up: %s started, %s missed past the grace window", report.started, report.missed)
        await self._dispatcher.sweep()
        return await self._dispatcher.schedules()

    def plan(self, schedules: Sequence[ClientSchedule]) -> None:
        """Replace every client job: called on start and whenever config or a client's sessions change."""
        for job in self._scheduler.get_jobs():
            if job.id.startswith(_CLIENT_JOB_PREFIX):
                job.remove()
        for schedule in schedules:
            self._scheduler.add_job(
                self._client_due,
                SlotTrigger(schedule),
                args=(schedule.client_id,),
                id=f"{_CLIENT_JOB_PREFIX}{schedule.client_id}",
            )

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._flush is not None:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush

    @property
    def running(self) -> bool:
        """Whether the timer is on: false until ``start`` has caught up, and again once ``stop`` begins."""
        return bool(self._scheduler.running)

    def next_runs(self) -> dict[str, datetime | None]:
        """When each job fires next, for the status line and tests of the planning."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def _client_due(self, client_id: str) -> None:
        """Collect clients whose slot fired and dispatch them together.

        Many clients often share a slot (Monday 09:00); thousands of one-client passes would each pay for
        their own queries and transaction, where one pass over all of them pays once.
        """
        self._due.add(client_id)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._dispatch_due(), name="dispatch-due")

    async def _dispatch_due(self) -> None:
        await asyncio.sleep(DUE_COLLECTION_DELAY)
        due, self._due = self._due, set()
        try:
            await self._dispatcher.dispatch(due)
        except Exception:
            log.exception("dispatch of %d client(s) failed; the next sweep retries them", len(due))

    async def _sweep(self) -> None:
        """The safety net: anything a client job missed, reminders and expiry."""
        try:
            await self._dispatcher.dispatch()
            await self._dispatcher.sweep()
        except Exception:
            log.exception("sweep failed; retrying at the next interval")
