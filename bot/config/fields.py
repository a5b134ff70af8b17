"""The value types every section of ``config.yaml`` shares: ids, names, time zones, durations, local times.

Each is an ``Annotated`` type whose validator words its error for the admin, so a model only names the type.
``Strict`` is the base of every model: it forbids unknown keys, because a misspelt key (``remind_afer``)
silently falling back to a default is the hardest config mistake to notice.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from bot.config.timezones import check_timezone

_ID = re.compile(r"^[a-z][a-z0-9_-]*$")
_SET_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])$")
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_LONGEST = timedelta(days=365)

#: Ids travel in Telegram button data ("{check-in}:progress:{goal}:{value}"), which holds 64 bytes at most.
MAX_ID_LENGTH = 32
#: Names and goal titles are read in chat messages; a whole paragraph there is a mistake.
MAX_LABEL_LENGTH = 200


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("must be a lowercase id: a letter, then letters, digits, '-' or '_'")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"must be at most {MAX_ID_LENGTH} characters long")
    return value


def _check_label(value: str) -> str:
    """A person's name or a goal's title: one line of visible text, as it will appear in messages.

    A blank name would leave "Hi ," in a greeting (and nothing to take a first name from), a NUL cannot be
    stored in PostgreSQL, and a line break or terminal escape would garble alerts and logs. Printable text (the
    usual case) holds neither control nor format characters, so only the rest is read character by character.
    """
    if not (value.isprintable() and value.split()):
        control = next((ch for ch in value if unicodedata.category(ch) == "Cc"), None)
        if control is not None:
            raise ValueError(f"must be one line without control characters (found U+{ord(control):04X})")
        if not "".join(ch for ch in value if unicodedata.category(ch) != "Cf").split():
            raise ValueError("must contain visible text")
    if len(value) > MAX_LABEL_LENGTH:
        raise ValueError(f"must be at most {MAX_LABEL_LENGTH} characters long")
    return value


def _check_set_name(value: str) -> str:
    if not _SET_ID.fullmatch(value):
        raise ValueError("must be a lowercase id: a letter, then letters, digits or '_'")
    return value


def _check_plausible_date(value: date) -> date:
    # Far-off years overflow when slot maths adds days or converts to UTC; no coaching plan needs them.
    if not 2000 <= value.year <= 2999:
        raise ValueError("must be a date between the years 2000 and 2999")
    return value


def _parse_duration(value: object) -> timedelta:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration such as 30s, 30m, 24h, 7d or 2w")
    duration = int(match[1]) * _UNITS[match[2]]
    if not timedelta(0) < duration <= _LONGEST:
        raise ValueError("a duration must be more than zero and at most 365d")
    return duration


def _parse_clock(value: object) -> time:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError('expected a local time "HH:MM" between "00:00" and "23:59"')
    return time(int(match[1]), int(match[2]))


Id = Annotated[str, AfterValidator(_check_id)]
Label = Annotated[str, AfterValidator(_check_label)]
SetName = Annotated[str, AfterValidator(_check_set_name)]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock)]
PlausibleDate = Annotated[date, AfterValidator(_check_plausible_date)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
