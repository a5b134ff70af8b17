"""``cadences``: when a client is asked, in one of three forms (``every``, ``cron``, ``after_sessions``).

The slot maths lives in ``bot.timing.cadence``; these models check what an admin wrote and whether the
combination ever fires, so a cadence that would never send anything is an error at load time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from bot.config.fields import ClockTime, Duration, PlausibleDate, Strict
from bot.timing.cadence import SEARCH_HORIZON, cron_trigger, next_slots

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_EVERY = re.compile(r"^([0-9]{1,9})([dw])$")
#: A cadence without ``start`` is checked from here; 5-field crons and the epoch-anchored intervals
#: repeat, so any fixed date answers "does it ever fire?".
_REFERENCE_START = date(2000, 1, 1)


@dataclass(frozen=True)
class Every:
    """``every: 2w`` as ``Every(2, "w")``: weeks and days schedule differently, so the unit is kept."""

    count: int
    unit: Literal["d", "w"]


def _parse_every(value: object) -> Every | None:
    if value is None:
        return None
    match = _EVERY.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected an interval such as 1d, 3d, 1w or 2w")
    every = Every(int(match[1]), "d" if match[2] == "d" else "w")
    limit = 365 if every.unit == "d" else 52
    if not 1 <= every.count <= limit:
        raise ValueError(f"the interval must be between 1{every.unit} and {limit}{every.unit}")
    return every


class QuietHours(Strict):
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self


class AfterSessions(Strict):
    """``after_sessions: {days: 3, at: "09:00"}``: the check-in follows each coaching session.

    Its own ``at`` lives here rather than beside ``every`` so that the three cadence forms never share
    a key whose meaning depends on which form is used.
    """

    days: int = Field(ge=1, le=365)
    at: ClockTime


def _check_cron(value: str) -> str:
    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression: {exc}") from None
    return value


class CadenceFields(Strict):
    """Every cadence setting, each checked on its own.

    This is also the shape of a client's ``cadence_overrides``: an override is a partial cadence, so
    its keys are checked here at their own lines, and the whole-cadence rules run once it is merged.
    """

    every: Annotated[Every | None, BeforeValidator(_parse_every)] = None
    cron: Annotated[str, AfterValidator(_check_cron)] | None = None
    after_sessions: AfterSessions | None = None
    on: tuple[Weekday, ...] | None = None
    at: ClockTime | None = None
    start: PlausibleDate | None = None
    quiet_hours: QuietHours | None = None
    remind_after: Duration = timedelta(hours=24)
    reminders: int = Field(1, ge=0, le=5)
    expire_after: Duration = timedelta(hours=72)


class Cadence(CadenceFields):
    @model_validator(mode="after")
    def _coherent(self) -> Self:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """What makes this combination of settings unusable; empty when it is fine.

        Public because a client's overrides are merged without re-validation and checked with it.
        """
        problems = self._shape_problems()
        if self.expire_after <= self.remind_after * self.reminders:
            problems.append("expire_after must be longer than remind_after × reminders")
        # A session-based cadence with no sessions yet has no slots, which is not a mistake.
        if not problems and self.after_sessions is None and not self._fires():
            since = f" from {self.start}" if self.start else ""
            problems.append(f"this cadence never fires (no slot in the four years{since})")
        return problems

    def with_overrides(self, overrides: CadenceFields | None) -> Cadence:
        """This cadence with the keys written in ``overrides`` replaced; not re-validated (see ``problems``)."""
        if overrides is None:
            return self
        return self.model_copy(update={key: getattr(overrides, key) for key in overrides.model_fields_set})

    def _shape_problems(self) -> list[str]:
        forms = [key for key in ("every", "cron", "after_sessions") if getattr(self, key) is not None]
        if len(forms) != 1:
            return ["give exactly one of 'every', 'cron' or 'after_sessions'"]
        if self.cron is not None:
            return [f"'{key}' cannot be used with 'cron'" for key in ("on", "at") if getattr(self, key) is not None]
        if self.after_sessions is not None:
            problems = ["'on' cannot be used with 'after_sessions'"] if self.on is not None else []
            if self.at is not None:
                problems.append("'at' goes inside 'after_sessions', as in after_sessions: {days: 3, at: \"09:00\"}")
            return problems
        assert self.every is not None
        problems = [] if self.at is not None else ["'at' is required with 'every'"]
        if self.every.unit == "w" and self.on is None:
            problems.append("'on' (the weekdays) is required with 'every: Nw'")
        if self.every.unit == "d" and self.on is not None:
            problems.append("'on' works only with weekly intervals ('every: Nw')")
        return problems

    def _fires(self) -> bool:
        start = datetime.combine(self.start or _REFERENCE_START, time.min, UTC)
        after = start - timedelta(microseconds=1)
        return bool(next_slots(self, ZoneInfo("UTC"), after, 1, horizon=SEARCH_HORIZON))
