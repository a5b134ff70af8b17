"""What a coach can type in chat, read into a command; the alert buttons send the same words.

Parsing is pure and knows no clients: a command names its client as the coach wrote it (an id, a full name
or a first name) and ``coaching`` resolves that among the coach's own clients, which is where the
authorization lives. Anything that is not a command is ``Unknown`` so the coach gets the command list
instead of silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.conversation.replies import normalize, parse_duration

#: How long a snooze lasts when the coach does not say.
DEFAULT_SNOOZE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ListClients:
    pass


@dataclass(frozen=True, slots=True)
class ShowTrend:
    client: str


@dataclass(frozen=True, slots=True)
class ShowAnswers:
    """``answers anna`` shows the last few check-ins; ``answers anna 5`` the last five."""

    client: str
    count: int = 3


@dataclass(frozen=True, slots=True)
class ShowBrief:
    client: str


@dataclass(frozen=True, slots=True)
class SendCheckIn:
    client: str


@dataclass(frozen=True, slots=True)
class PauseClient:
    client: str
    duration: timedelta


@dataclass(frozen=True, slots=True)
class ResumeClient:
    client: str


@dataclass(frozen=True, slots=True)
class RecordSession:
    client: str
    day: date


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """``ack`` alone acknowledges every open alert; with a client, theirs; with a number, that alert."""

    client: str | None = None
    alert_id: int | None = None


@dataclass(frozen=True, slots=True)
class SnoozeAlerts:
    client: str
    duration: timedelta = DEFAULT_SNOOZE


@dataclass(frozen=True, slots=True)
class OpenDashboard:
    """``dashboard``: a one-time link to the coach's dashboard, in the coach's DM."""


@dataclass(frozen=True, slots=True)
class CoachHelp:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    """Not a command, or a command missing what it needs; ``usage`` names the text key explaining it."""

    usage: str = "coach_help"


CoachCommand = (
    ListClients
    | ShowTrend
    | ShowAnswers
    | ShowBrief
    | SendCheckIn
    | PauseClient
    | ResumeClient
    | RecordSession
    | Acknowledge
    | SnoozeAlerts
    | OpenDashboard
    | CoachHelp
    | Unknown
)

#: The first word of every coach command.
COMMAND_WORDS = frozenset(
    {
        "clients",
        "dashboard",
        "trend",
        "answers",
        "brief",
        "checkin",
        "check-in",
        "pause",
        "resume",
        "session",
        "ack",
        "snooze",
    }
)
#: The most check-ins ``answers`` shows at once: more would not fit one chat message.
MAX_ANSWERS = 10
#: The largest alert number a command may name: the database's integer ids stop there.
MAX_ALERT_ID = 2**31 - 1


def is_coach_command(text: str, today: date) -> bool:
    """Whether ``text`` is a whole coach command. A person who is both a coach and a client is the coach only
    for these, so their own "resume", "checkin" or "pause 2w" stay client commands."""
    return not isinstance(parse_coach_command(text, today), (Unknown, CoachHelp))


def parse_coach_command(text: str, today: date) -> CoachCommand:
    """Read one coach message. ``today`` is the coach's local date, for ``session anna today``."""
    words = normalize(text).removeprefix("/").split()
    if not words:
        return Unknown()
    verb, rest = words[0], words[1:]
    if verb in ("help", "?"):
        return CoachHelp()
    if verb == "clients":
        return Unknown("coach_usage_clients") if rest else ListClients()
    if verb == "dashboard":
        return Unknown("coach_usage_dashboard") if rest else OpenDashboard()
    if verb == "ack":
        return _acknowledge(rest)
    if not rest:
        return Unknown(f"coach_usage_{verb.replace('-', '')}") if verb in COMMAND_WORDS else Unknown()
    if verb == "trend":
        return ShowTrend(" ".join(rest))
    if verb == "answers":
        return _answers(rest)
    if verb == "brief":
        return ShowBrief(" ".join(rest))
    if verb in ("checkin", "check-in"):
        return SendCheckIn(" ".join(rest))
    if verb == "resume":
        return ResumeClient(" ".join(rest))
    if verb == "pause":
        client, duration = _trailing_duration(rest)
        return PauseClient(client, duration) if client and duration else Unknown("coach_usage_pause")
    if verb == "snooze":
        client, duration = _trailing_duration(rest)
        if client and duration:
            return SnoozeAlerts(client, duration)
        return SnoozeAlerts(" ".join(rest)) if duration is None else Unknown("coach_usage_snooze")
    if verb == "session":
        day = _day(rest[-1], today)
        return RecordSession(" ".join(rest[:-1]), day) if day and len(rest) > 1 else Unknown("coach_usage_session")
    return Unknown()


def _acknowledge(rest: list[str]) -> Acknowledge | Unknown:
    if not rest:
        return Acknowledge()
    if len(rest) == 1 and rest[0].removeprefix("#").isdecimal():
        alert_id = int(rest[0].removeprefix("#"))
        return Acknowledge(alert_id=alert_id) if alert_id <= MAX_ALERT_ID else Unknown("coach_usage_ack")
    return Acknowledge(client=" ".join(rest))


def _answers(rest: list[str]) -> ShowAnswers | Unknown:
    if len(rest) > 1 and rest[-1].isdecimal():
        count = int(rest[-1])
        return ShowAnswers(" ".join(rest[:-1]), count) if 1 <= count <= MAX_ANSWERS else Unknown("coach_usage_answers")
    return ShowAnswers(" ".join(rest))


def _trailing_duration(words: list[str]) -> tuple[str, timedelta | None]:
    """``["anna", "2w"]`` -> ("anna", 2 weeks); also "anna 2 weeks"; the client part may be several words."""
    for cut in (1, 2):
        if len(words) > cut and (duration := parse_duration(" ".join(words[-cut:]))) is not None:
            return " ".join(words[:-cut]), duration
    return " ".join(words), None


def _day(word: str, today: date) -> date | None:
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None
