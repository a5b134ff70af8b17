"""The bot's Prometheus metrics, kept in a registry of the runtime's own rather than the library's global one.

A registry per runtime keeps tests (and two runtimes in one process) from adding to each other's numbers; the
server in ``server.py`` renders it at ``/metrics``.

Counts follow commits. A check-in claimed in a transaction that then rolled back was never started, so it is
not counted: where the runtime holds the transaction in view (``start_checkins``, ``expire``) the increment
follows its ``async with`` block; where the effect happens deep inside one (a check-in completing, an alert
being raised), ``count_on_commit`` defers the increment to the session's commit. A crash between a commit and
its increment can lose a count but never invents one. Counters live in each process: with several replicas,
sum them across replicas.

The outbox depth is not a counter but a reading of the shared table, taken at each scrape, so every replica
reports the same number: aggregate it with ``max``, not ``sum``. When the database cannot be read the gauge is
left out of that scrape rather than showing a stale number.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.contract.statuses import Severity
from bot.store import Session, hooks

#: Kinds of failed sends, as the outbox decides what happens next (see ``OutboxWorker._record_failure``).
SEND_FAILURE_KINDS = ("retry", "ambiguous", "permanent")
SEVERITIES = tuple(Severity)


class _OutboxDepth:
    """A gauge whose value is read from the database by the scrape itself; absent when that read failed."""

    def __init__(self) -> None:
        self.value: int | None = None

    def collect(self) -> Iterable[Metric]:
        if self.value is None:
            return
        yield GaugeMetricFamily(
            "checkin_outbox_depth",
            "Messages in the outbox not yet sent (pending or being sent), across every replica",
            value=self.value,
        )


class Metrics:
    """Every counter the bot keeps, plus the process's own (memory, CPU, open files) from prometheus_client."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.checkins_sent = Counter(
            "checkin_checkins_sent",
            "Check-ins started: claimed, with their opening messages queued",
            registry=self.registry,
        )
        self.checkins_completed = Counter(
            "checkin_checkins_completed", "Check-ins the client answered to the end", registry=self.registry
        )
        self.checkins_expired = Counter(
            "checkin_checkins_expired", "Check-ins closed unanswered after expire_after", registry=self.registry
        )
        self.alerts = Counter("checkin_alerts", "Alerts raised for coaches", ["severity"], registry=self.registry)
        self.send_failures = Counter(
            "checkin_send_failures",
            "Failed sends by what happens next: retry, ambiguous (may have arrived; retried), permanent (given up)",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.inbound_events = Counter(
            "checkin_inbound_events",
            "Events received from a platform, duplicates and strangers included",
            ["platform"],
            registry=self.registry,
        )
        for severity in SEVERITIES:  # present at 0 from the start, so rate() and alert rules see them
            self.alerts.labels(severity)
        self._outbox_depth = _OutboxDepth()
        self.registry.register(self._outbox_depth)
        ProcessCollector(registry=self.registry)

    def exposition(self, outbox_depth: int | None) -> bytes:
        """The Prometheus text format for one scrape, with the outbox depth just read (``None``: unreadable)."""
        self._outbox_depth.value = outbox_depth
        return generate_latest(self.registry)


def count_on_commit(session: Session, counter: Counter, amount: float = 1) -> None:
    """Add ``amount`` to ``counter`` once ``session``'s transaction commits; nothing if it rolls back."""
    hooks.on_commit(session, lambda: counter.inc(amount))
