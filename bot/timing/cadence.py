"""Cadence slot maths: when a client's check-ins fall, as aware UTC instants.

Everything here is a pure function of the cadence, the client's time zone and an injected instant, so
the scheduler, ``checkin validate`` and the tests agree on every slot, DST days included.

The rules, in the client's local time:

* ``every: Nd at HH:MM`` fires on ``anchor + k*N`` days, ``k >= 0``. The anchor is ``start`` or, when the
  cadence has none, 1970-01-01, a fixed date so that slots never move when the bot restarts.
* ``every: Nw on [...] at HH:MM`` fires on the listed weekdays of every N-th week, weeks being counted
  from the Monday of the anchor's week (1969-12-29 without ``start``).
* ``after_sessions: {days: N, at: HH:MM}`` fires N days after each coaching session, except on a
  session day or the day before one (the check-in would add nothing to the session itself). Sessions
  are an input, not part of the cadence: they come from the config and, later, from the coach.
* ``cron`` is a 5-field crontab (minute hour day-of-month month day-of-week). Weekday numbers follow
  crontab (0 and 7 are Sunday, 1 Monday), not APScheduler 3, which counts 0 as Monday. When both the
  day of month and the day of week are restricted, a day must match both (APScheduler's rule; classic
  cron fires when either matches).
* No slot falls before ``start`` (local midnight).
* A local time that does not exist (the spring-forward gap) is read with the offset in force before the
  change, i.e. it is shifted forward by the gap: 02:30 on 2026-03-08 in New York is 03:30 EDT. A local
  time that happens twice (fall back) is the first occurrence. Each wall-clock time therefore yields
  exactly one instant (PEP 495 ``fold=0``).
* A slot inside ``quiet_hours`` moves to the end of the quiet hours (the next day's end when they wrap
  midnight and the slot lies before midnight). Slots that collapse onto the same instant count once.
* A slot that would come no later than an earlier one (a DST gap or quiet hours can reorder them) is
  dropped. This depends only on the cadence, so any window asked for sees the same slots.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

#: How far ahead a search looks before concluding that a cadence has no more slots: four years and a
#: little, so that a cron on 29 February still finds its next slot.
SEARCH_HORIZON = timedelta(days=4 * 366 + 2)

_EPOCH = date(1970, 1, 1)
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class Interval(Protocol):
    """``every: 2w``: a count of days or weeks."""

    @property
    def count(self) -> int: ...
    @property
    def unit(self) -> Literal["d", "w"]: ...


class SessionRule(Protocol):
    """``after_sessions: {days: 3, at: "09:00"}``."""

    @property
    def days(self) -> int: ...
    @property
    def at(self) -> time: ...


class QuietHours(Protocol):
    """Local times between which nothing is sent; ``end`` before ``start`` wraps midnight."""

    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time: ...


class Cadence(Protocol):
    """The cadence settings slot maths reads, as ``bot.config`` checks them (one of every, cron, after_sessions).

    A protocol rather than the config model, so that timing, the lowest layer, depends on no configuration code.
    """

    @property
    def every(self) -> Interval | None: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def after_sessions(self) -> SessionRule | None: ...
    @property
    def on(self) -> Sequence[str] | None: ...
    @property
    def at(self) -> time | None: ...
    @property
    def start(self) -> date | None: ...
    @property
    def quiet_hours(self) -> QuietHours | None: ...


def next_slots(
    cadence: Cadence,
    tz: ZoneInfo,
    after: datetime,
    count: int,
    *,
    horizon: timedelta = SEARCH_HORIZON,
    sessions: Sequence[date] = (),
) -> list[datetime]:
    """Up to ``count`` slots strictly after ``after``, increasing, as aware UTC datetimes.

    Fewer (possibly none) are returned when the cadence has no more slots within ``horizon``.
    """
    slots = slots_until(cadence, tz, after, after + horizon, sessions=sessions)
    return list(islice(slots, max(count, 0)))


def slots_until(
    cadence: Cadence,
    tz: ZoneInfo,
    after: datetime,
    until: datetime,
    *,
    sessions: Sequence[date] = (),
) -> Iterator[datetime]:
    """The slots in ``(after, until]``, increasing, as aware UTC datetimes, computed lazily.

    The work is proportional to the window (plus a day or two of margin), so a caller asking every
    minute about the last minute pays for a few candidates, not for a search of the years ahead.
    """
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("slot searches need timezone-aware instants")
    return _slots(cadence, tz, after.astimezone(UTC), until.astimezone(UTC), sessions)


def _slots(
    cadence: Cadence, tz: ZoneInfo, after: datetime, until: datetime, sessions: Sequence[date]
) -> Iterator[datetime]:
    local_after = after.astimezone(tz).replace(tzinfo=None)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    # Start early enough to catch a slot that the DST or quiet-hours shift pushed past ``after``, and
    # read on a little past ``until`` for a wall time that the fall-back hour places before it.
    margin = timedelta(days=2 if cadence.quiet_hours else 1)
    blocked = _session_eves(sessions) if cadence.after_sessions is not None else frozenset()
    latest: datetime | None = None
    for wall in _wall_times(cadence, local_after - margin, local_until + margin, sessions):
        slot = _place(wall, tz, cadence.quiet_hours)
        if (latest is not None and slot <= latest) or (blocked and slot.astimezone(tz).date() in blocked):
            continue
        latest = slot
        if slot > until:
            return
        if slot > after:
            yield slot


def quiet_hour_moves(
    cadence: Cadence,
    tz: ZoneInfo,
    after: datetime,
    until: datetime,
    *,
    sessions: Sequence[date] = (),
) -> dict[datetime, datetime]:
    """The slots in ``(after, until]`` that quiet hours moved: UTC instant sent -> local wall time planned.

    For telling an admin that a time they wrote is not the time a check-in goes out. Slots that quiet hours
    collapse into one keep the first planned time.
    """
    if cadence.quiet_hours is None:
        return {}
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    local_after = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=2)
    local_until = until.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    moves: dict[datetime, datetime] = {}
    for wall in _wall_times(cadence, local_after, local_until, sessions):
        sent = _place(wall, tz, cadence.quiet_hours)
        if sent != _instant(wall, tz) and after < sent <= until:
            moves.setdefault(sent, wall)
    return moves


def after_quiet_hours(moment: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """``moment`` itself, or the end of the quiet hours it falls in (local ``tz``): when a message may go out."""
    return max(moment, _place(moment.astimezone(tz).replace(tzinfo=None), tz, quiet))


def cron_trigger(expression: str) -> CronTrigger:
    """Parse a 5-field crontab into a trigger that walks wall-clock time (raises ``ValueError``).

    The trigger is built on UTC, which has no DST, because APScheduler 3 revisits the repeated hour
    when clocks fall back (and can even step backwards); this module applies its own DST rule instead.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), found {len(fields)}")
    fields[4] = _crontab_weekdays(fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=UTC)
    except Exception as exc:  # APScheduler reports bad fields with assorted exception types
        raise ValueError(str(exc)) from None


def _session_eves(sessions: Sequence[date]) -> frozenset[date]:
    """The local dates a session cadence stays silent on: each session day and the day before it."""
    return frozenset(day - timedelta(days=back) for day in sessions for back in (0, 1))


def _wall_times(cadence: Cadence, first: datetime, last: datetime, sessions: Sequence[date]) -> Iterator[datetime]:
    """Candidate local (naive) times in ``[first, last]``, increasing, before DST and quiet hours."""
    if cadence.start is not None:
        first = max(first, datetime.combine(cadence.start, time.min))
    if cadence.cron is not None:
        yield from _cron_times(cadence.cron, first, last)
        return
    if cadence.after_sessions is not None:
        rule = cadence.after_sessions
        for day in sorted({session + timedelta(days=rule.days) for session in sessions}):
            wall = datetime.combine(day, rule.at)
            if first <= wall <= last:
                yield wall
        return
    assert cadence.every is not None and cadence.at is not None
    anchor = cadence.start or _EPOCH
    at = cadence.at
    if cadence.every.unit == "d":
        step = cadence.every.count
        behind = (first.date() - anchor).days
        day = anchor + timedelta(days=max(0, -(-behind // step)) * step)
        while (wall := datetime.combine(day, at)) <= last:
            if wall >= first:
                yield wall
            day += timedelta(days=step)
        return
    weekdays = {_CRON_WEEKDAYS.index(name) for name in cadence.on or ()}
    monday = anchor - timedelta(days=anchor.weekday())
    day = max(first.date(), anchor)
    while (wall := datetime.combine(day, at)) <= last:
        in_week = ((day - monday).days // 7) % cadence.every.count == 0
        if in_week and day.isoweekday() % 7 in weekdays and wall >= first:
            yield wall
        day += timedelta(days=1)


@lru_cache(maxsize=256)
def _parsed_cron(expression: str) -> CronTrigger:
    """A practice has a handful of cron expressions and thousands of clients following them: parse each once."""
    return cron_trigger(expression)


def _cron_times(expression: str, first: datetime, last: datetime) -> Iterator[datetime]:
    trigger = copy.copy(_parsed_cron(expression))  # a copy, because the search sets its own end date
    # Without an end date APScheduler searches up to the year 9999 for an impossible date (31 Feb).
    trigger.end_date = last.replace(tzinfo=UTC)
    cursor: Any = first.replace(tzinfo=UTC)
    while (fire := trigger.get_next_fire_time(None, cursor)) is not None:
        yield fire.replace(tzinfo=None)
        cursor = fire + timedelta(microseconds=1)


def _place(wall: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """Turn a local wall time into the UTC instant it is sent at."""
    instant = _instant(wall, tz)
    if quiet is None:
        return instant
    local = instant.astimezone(tz).replace(tzinfo=None)
    moment = local.time()
    if quiet.start < quiet.end:
        inside_today = quiet.start <= moment < quiet.end
        end_day = local.date()
    else:
        inside_today = moment >= quiet.start or moment < quiet.end
        end_day = local.date() + timedelta(days=1) if moment >= quiet.start else local.date()
    if not inside_today:
        return instant
    return max(instant, _instant(datetime.combine(end_day, quiet.end), tz))


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _crontab_weekdays(field: str) -> str:
    """Rewrite a crontab day-of-week field with day names, which APScheduler reads the crontab way."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        body, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            raise ValueError(f"bad step in weekday field {field!r}")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in weekday field {field!r}")
        if body == "*":
            low, high = 0, 6
        else:
            low_text, dash, high_text = body.partition("-")
            low = _crontab_day(low_text, field)
            high = _crontab_day(high_text, field) if dash else (6 if slash else low)
            if high < low:
                raise ValueError(f"weekday range must run forwards in {field!r}")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_CRON_WEEKDAYS[day] for day in sorted(days))


def _crontab_day(text: str, field: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _CRON_WEEKDAYS:
        return _CRON_WEEKDAYS.index(text.lower())
    raise ValueError(f"unknown weekday {text!r} in {field!r}")
