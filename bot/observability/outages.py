"""Telling an operator the database is away: a line when a loop starts failing for it, a line when it is back.

The loops that retry (the outbox worker, the scheduler's passes) logged every failed pass with its traceback, so
a 25-second outage wrote 31 tracebacks that said nothing the first had not, and hid any real bug among them.
Now a pass that fails because the database cannot be reached is told once per outage, with the driver's reason,
and the end of the outage with how long it lasted; any other failure keeps its traceback every time.
"""

from __future__ import annotations

import logging
import time

from bot.store import driver_reason, unreachable


class OutageLog:
    """One loop's account of its failed passes; ``failed`` after a pass raised, ``succeeded`` after one did not."""

    def __init__(self, log: logging.Logger, loop: str) -> None:
        self._log = log
        self._loop = loop
        self._since: float | None = None
        self._failed_passes = 0

    def failed(self, error: Exception, then: str) -> None:
        """Tell of a failed pass; ``then`` says what the loop does next ("retrying after the poll interval")."""
        if not unreachable(error):
            self._log.error("%s: a pass failed; %s", self._loop, then, exc_info=error)
            return
        self._failed_passes += 1
        if self._since is None:
            self._since = time.monotonic()
            reason = driver_reason(error)
            self._log.warning(
                "%s: the database cannot be reached (%s%s); %s until it answers",
                self._loop,
                type(error).__name__,
                f": {reason}" if reason else "",
                then,
            )

    def succeeded(self) -> None:
        if self._since is None:
            return
        self._log.warning(
            "%s: the database answers again after %.0f s (%d passes failed meanwhile)",
            self._loop,
            time.monotonic() - self._since,
            self._failed_passes,
        )
        self._since = None
        self._failed_passes = 0
