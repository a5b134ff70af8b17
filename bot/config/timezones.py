"""Time-zone names, and what to suggest when an admin writes one the tz database does not know.

Admins write what they say aloud: ``AEST``, ``CET``, ``Germany``. Spelling suggestions alone answer
``AEST`` with ``EST`` (US Eastern, for an Australian), so an abbreviation is looked up among the
abbreviations each zone uses in January and July (its standard and summer time), and a country name or
ISO code among the zones the tz database lists for it. Everything comes from the tz database itself (the
``tzdata`` package, a dependency so that a machine without system zone files gives the same answers), so
the suggestions follow it when a country changes its rules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from zoneinfo import ZoneInfo, available_timezones

from bot.config.errors import did_you_mean

#: How many zones a suggestion names before it says how many more there are.
_SHOWN = 3


def check_timezone(value: str) -> str:
    """``value`` if it names a zone, else ``ValueError`` with the zones the admin probably meant."""
    if value not in _zones():
        raise ValueError(f"unknown time zone '{value}'{timezone_hint(value)}")
    return value


def timezone_hint(value: str) -> str:
    """`` (AEST is an abbreviation; did you mean ...?)``, a country's zones, a spelling, or nothing."""
    key = value.strip().casefold()
    by_abbreviation = _abbreviations().get(key)
    if by_abbreviation:
        return f" ({value} is an abbreviation; did you mean {_choices(by_abbreviation)}?)"
    country = _countries().get(key)
    if country is not None:
        code, name, zones = country
        what = f"the country code of {name}" if key == code.casefold() else "a country"
        return f" ({value} is {what}; did you mean {_choices(zones)}?)"
    return did_you_mean(value, _zones())


def _choices(zones: tuple[str, ...]) -> str:
    shown = [f"'{zone}'" for zone in zones[:_SHOWN]]
    if len(zones) > _SHOWN:
        return f"{', '.join(shown)} or one of {len(zones) - _SHOWN} more"
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} or {shown[-1]}"


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _database() -> Traversable:
    return resources.files("tzdata") / "zoneinfo"


def _table(name: str) -> list[list[str]]:
    """The rows of one of the tz database's ``.tab`` files, split on tabs, comments left out."""
    text = (_database() / name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def _abbreviations() -> dict[str, tuple[str, ...]]:
    """Lower-case abbreviation -> the canonical zones using it in January or July of last year or this one.

    Numeric ones (``+03``) are left out: nobody types them as a place.
    """
    year = date.today().year
    found: defaultdict[str, list[str]] = defaultdict(list)
    for row in _table("zone1970.tab"):
        zone = ZoneInfo(row[2])
        moments = (datetime(y, month, 15, 12, tzinfo=zone) for y in (year - 1, year) for month in (1, 7))
        for abbreviation in dict.fromkeys(moment.tzname() or "" for moment in moments):
            if abbreviation.isalpha():
                found[abbreviation.casefold()].append(row[2])
    return {key: _best_known_first(zones) for key, zones in found.items()}


@cache
def _countries() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """``de``, ``germany``, ``uk``, ``britain`` ... -> (code, name, its zones).

    ``zone.tab`` has one row per country and zone, in an order that "makes some geographical sense and puts
    the most populous zones first"; a name with a parenthesis (``Britain (UK)``) is found by either part.
    """
    zones: defaultdict[str, list[str]] = defaultdict(list)
    for row in _table("zone.tab"):
        if row[2] in _zones():
            zones[row[0]].append(row[2])
    countries: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for code, name in (row[:2] for row in _table("iso3166.tab")):
        if code not in zones:
            continue
        entry = (code, name, tuple(zones[code]))
        short, _, aside = name.partition(" (")
        for key in (code, name, short, aside.removesuffix(")")):
            if key:
                countries.setdefault(key.casefold(), entry)
    return countries


def _best_known_first(zones: list[str]) -> tuple[str, ...]:
    """Zones ordered by how many names the tz database gives each, then in its own order.

    ``Australia/Sydney`` is also ``Australia/NSW``, ``Australia/ACT`` and ``Australia/Canberra``: old names
    were kept for the places people looked up most, so this puts Sydney before Lord Howe Island.
    """
    names = _name_counts()
    return tuple(sorted(zones, key=lambda zone: -names[_data(zone)]))


def _data(zone: str) -> bytes:
    return _database().joinpath(*zone.split("/")).read_bytes()


@cache
def _name_counts() -> Counter[bytes]:
    """How many zone names share each set of rules: a link in the tz database is a copy of its zone's file."""
    counts: Counter[bytes] = Counter()
    for zone in _zones():
        try:
            counts[_data(zone)] += 1
        except OSError:  # a name only the system's zone files know
            continue
    return counts
