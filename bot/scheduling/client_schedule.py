"""A client's check-in slots: their cadence, plus what is particular to them.

``bot/timing/cadence.py`` knows one cadence; this module adds the client's time zone, their overrides (already
merged by ``Config.cadence_of``), their coaching sessions, their holiday pauses and a pause they asked
for. The scheduler calls ``schedule_for`` and ``slots_between`` on every tick, and ``checkin schedule``
calls ``slots_after``; both go through the same walk, so what the CLI lists is what will be sent.

A slot inside a pause is dropped, not moved: a check-in about the fortnight of a holiday has nothing to
ask. ``paused_until`` is different only in that it comes from the database (the client's own ``pause``
command) or from the config, the database's value winning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from bot.config import Cadence, Config
from bot.config.errors import did_you_mean
from bot.timing.cadence import SEARCH_HORIZON, slots_until

_TICK = timedelta(microseconds=1)


class UnknownClientError(LookupError):
    """Raised for a client id the config does not have; the message suggests the closest one."""

    def __init__(self, client_id: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown client '{client_id}'{did_you_mean(client_id, known)}")


@dataclass(frozen=True)
class ClientSchedule:
    """All that slot maths needs about one client, with no config or database behind it.

    Built from both sources by ``schedule_for``, so the slot functions stay pure and cheap to test.
    """

    client_id: str
    timezone: ZoneInfo
    cadence: Cadence
    """The effective cadence: the named one with the client's overrides applied."""
    sessions: tuple[date, ...] = ()
    """Coaching session days, sorted and unique; only a session cadence reads them."""
    pauses: tuple[tuple[date, date], ...] = ()
    """Inclusive ranges of local dates without check-ins."""
    paused_until: datetime | None = None
    """Aware UTC; slots before it are skipped."""


def schedule_for(
    config: Config,
    client_id: str,
    *,
    sessions: Sequence[date] = (),
    paused_until: datetime | None = None,
) -> ClientSchedule:
    """The schedule of ``client_id``; ``sessions`` join the config's, ``paused_until`` replaces the config's.

    Raises ``UnknownClientError`` for an id the config does not have.
    """
    client = config.clients_by_id.get(client_id)
    if client is None:
        raise UnknownClientError(client_id, list(config.clients_by_id))
    zone = client.zone
    if paused_until is not None:
        paused_until = _aware(paused_until).astimezone(UTC)
    elif client.paused_until is not None:
        # A date in the config means "back on that day", in the client's own time zone.
        paused_until = _start_of_day(client.paused_until, zone)
    return ClientSchedule(
        client_id=client.id,
        timezone=zone,
        cadence=config.cadence_of(client),
        sessions=tuple(sorted({*client.sessions, *sessions})),
        pauses=tuple((pause.first, pause.last) for pause in client.pauses),
        paused_until=paused_until,
    )


def slots_after(schedule: ClientSchedule, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` slots strictly after ``after`` (fewer when there are none in four years)."""
    if count <= 0:
        return []
    start = _resume(schedule, _aware(after))
    return list(islice(_unpaused(schedule, start, start + SEARCH_HORIZON), count))


def slots_between(schedule: ClientSchedule, start: datetime, end: datetime) -> list[datetime]:
    """The slots with ``start < slot <= end``; the cost follows the window, not the years ahead."""
    return list(_unpaused(schedule, _resume(schedule, _aware(start)), _aware(end)))


class SlotWalks:
    """``slots_between`` for the many clients of one dispatch pass, each distinct question walked once.

    A practice's clients share a few cadences and time zones, and at a slot most were last claimed at the same
    earlier slot, so a pass over 10,000 clients asked the same question thousands of times: the walks were about
    60 % of the pass's CPU before the claims, and every replica pays for its own pass. A key holds the cadence's
    ``id``, not the cadence, whose hash pydantic computes from all its fields at every call; the memo keeps each
    cadence it has seen alive, so no other cadence can take that ``id`` while the memo lives. One memo per pass:
    a config reload builds new cadences and the next pass a new memo.
    """

    def __init__(self) -> None:
        self._walks: dict[tuple[object, ...], tuple[Cadence, tuple[datetime, ...]]] = {}

    def between(self, schedule: ClientSchedule, start: datetime, end: datetime) -> tuple[datetime, ...]:
        """What ``slots_between(schedule, start, end)`` gives, as a tuple the callers share."""
        key = (
            id(schedule.cadence),
            schedule.timezone,
            schedule.sessions,
            schedule.pauses,
            schedule.paused_until,
            start,
            end,
        )
        walked = self._walks.get(key)
        if walked is None:
            walked = self._walks[key] = (schedule.cadence, tuple(slots_between(schedule, start, end)))
        return walked[1]


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("slot searches need timezone-aware instants")
    return instant


def _resume(schedule: ClientSchedule, after: datetime) -> datetime:
    """Where the search starts: ``after``, or just before the end of the client's pause."""
    if schedule.paused_until is None:
        return after
    return max(after, schedule.paused_until - _TICK)


def _unpaused(schedule: ClientSchedule, after: datetime, until: datetime) -> Iterator[datetime]:
    """The cadence's slots in ``(after, until]`` outside the pauses.

    A slot inside a pause restarts the search after that pause rather than walking through it, which
    is safe because the cadence gives the same slots whatever instant a search starts from.
    """
    cursor = after
    while True:
        for slot in slots_until(schedule.cadence, schedule.timezone, cursor, until, sessions=schedule.sessions):
            last_day = _pause_end(schedule.pauses, slot.astimezone(schedule.timezone).date())
            if last_day is None:
                yield slot
                continue
            # ``max`` guarantees progress even where a repeated hour puts this slot after local midnight.
            cursor = max(slot, _start_of_day(last_day + timedelta(days=1), schedule.timezone) - _TICK)
            break
        else:
            return


def _pause_end(pauses: Sequence[tuple[date, date]], day: date) -> date | None:
    """The last day of the pauses that contain ``day`` (the latest, when they overlap), or ``None``."""
    return max((last for first, last in pauses if first <= day <= last), default=None)


def _start_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min).replace(tzinfo=zone, fold=0).astimezone(UTC)
