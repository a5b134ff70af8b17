"""Reading what people type.

Executives answer on phones, in a hurry, sometimes in another script: "4", "4.0", "four", "٤", "Very
hopeful" and "/skip" must all be understood, and anything else must be recognised as not-an-answer so the
engine can reply with a hint instead of guessing.

Command and number words of every shipped language are understood from everyone: a German client may type
"überspringen" or "skip", "vier" or "four", and nobody has to know which language the config gave them.
The words of different languages do not collide, so one table serves all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.conversation.questions import Scale

CommandName = Literal["help", "skip", "skip_all", "back", "stop", "resume", "pause", "checkin", "progress"]

_COMMAND_WORDS: dict[str, CommandName] = {
    "help": "help",
    "?": "help",
    "skip": "skip",
    "pass": "skip",
    "skip all": "skip_all",
    "skip checkin": "skip_all",
    "skip check-in": "skip_all",
    "skip this check-in": "skip_all",
    "back": "back",
    "undo": "back",
    "stop": "stop",
    "unsubscribe": "stop",
    "resume": "resume",
    "start again": "resume",
    "pause": "pause",
    "checkin": "checkin",
    "check-in": "checkin",
    "check in": "checkin",
    "progress": "progress",
    # German; the spellings without umlauts are for keyboards that lack them.
    "hilfe": "help",
    "überspringen": "skip",
    "ueberspringen": "skip",
    "alle überspringen": "skip_all",
    "alles überspringen": "skip_all",
    "alle ueberspringen": "skip_all",
    "alles ueberspringen": "skip_all",
    "check-in überspringen": "skip_all",
    "zurück": "back",
    "zurueck": "back",
    "stopp": "stop",
    "abmelden": "stop",
    "fortsetzen": "resume",
    "weitermachen": "resume",
    "fortschritt": "progress",
}

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "null": 0, "eins": 1, "zwei": 2, "zwo": 2, "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5,
    "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
}  # fmt: skip

#: "2w", "10 days"; German "10t", "10 Tage", "3 Wochen". A unit starting with "w" is weeks, any other days.
_DURATION = re.compile(r"^(\d{1,3})\s*(d|day|days|t|tag|tage|tagen|w|wk|wks|week|weeks|woche|wochen)$")
_MAX_PAUSE = timedelta(days=366)
_TRAILING_PUNCTUATION = ".!,;:"


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    #: Only for ``pause``: how long; ``None`` when the client did not say (the engine then asks).
    duration: timedelta | None = None


def normalize(text: str) -> str:
    """Fold width, compatibility forms and case, drop zero-width and control characters, collapse spaces."""
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(ch for ch in folded if unicodedata.category(ch) not in {"Cf", "Cc"} or ch in " \t\n")
    return " ".join(kept.split()).casefold().strip(_TRAILING_PUNCTUATION + " ")


def parse_command(text: str) -> Command | None:
    """Return the command a whole message spells, or ``None``; "stop" inside a sentence is not a command.

    "pause" with an unreadable length ("pause for a while") is still a pause, without a duration, so the
    engine can ask how long instead of storing the words as an answer.
    """
    words = normalize(text).removeprefix("/")
    if words.startswith("pause"):
        rest = words.removeprefix("pause").strip()
        if not rest:
            return Command("pause")
        duration = parse_duration(rest)
        if duration is None and len(rest.split()) > 2:
            return None  # a sentence that happens to start with "pause", such as a note
        return Command("pause", duration)
    name = _COMMAND_WORDS.get(words)
    return Command(name) if name is not None else None


def parse_duration(text: str) -> timedelta | None:
    """Parse "2w", "10 days", "3 weeks", "10 Tage"; ``None`` for anything else, zero, or more than a year."""
    match = _DURATION.match(normalize(text))
    if match is None:
        return None
    amount = int(match.group(1))
    duration = timedelta(weeks=amount) if match.group(2).startswith("w") else timedelta(days=amount)
    if not timedelta(0) < duration <= _MAX_PAUSE:
        return None
    return duration


@dataclass(frozen=True, slots=True)
class ScaleReading:
    """The outcome of reading a scale reply: a value on the scale, a number off it, or not a number at all."""

    value: int | None
    out_of_range: str | None = None


def parse_scale(text: str, scale: Scale) -> ScaleReading:
    words = normalize(text)
    for point, label in scale.labels.items():
        if words == normalize(label):
            return ScaleReading(point)
    number = _read_number(words, scale)
    if number is None:
        return ScaleReading(None)
    if scale.min <= number <= scale.max:
        return ScaleReading(number)
    return ScaleReading(None, out_of_range=words)


def _read_number(words: str, scale: Scale) -> int | None:
    """An integer from digits in any script ("4", "٤"), "4.0", "four", or "4/5" on a 1–5 scale."""
    if words in _NUMBER_WORDS:
        return _NUMBER_WORDS[words]
    numerator, slash, denominator = words.partition("/")
    if slash:
        if _as_integer(denominator.strip()) != scale.max:
            return None
        words = numerator.strip()
    return _as_integer(words)


def _as_integer(words: str) -> int | None:
    if not words or len(words) > 12:
        return None
    whole, dot, fraction = words.partition(".")
    if dot and (not fraction or fraction.strip("0")):
        return None
    if not whole or not all(unicodedata.decimal(ch, None) is not None for ch in whole):
        return None
    return int("".join(str(unicodedata.decimal(ch)) for ch in whole))
