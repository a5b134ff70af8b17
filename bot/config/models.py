"""The shape of ``config.yaml``: who is coached by whom, when they are asked, and how alerts behave.

Every model forbids unknown keys, because a misspelt key (``remind_afer``) silently falling back to a
default is the hardest config mistake to notice. References between sections (a client's coach,
cadence and question set) are checked in ``references.py`` against the raw data so that they are
reported even when some other part of the file fails validation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from typing import Annotated, ClassVar, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bot.config.errors import did_you_mean
from bot.config.secrets import is_reference
from bot.conversation.languages import LANGUAGE_TAG
from bot.timing.cadence import SEARCH_HORIZON, cron_trigger, next_slots

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_ID = re.compile(r"^[a-z][a-z0-9_-]*$")
_SET_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])$")
_EVERY = re.compile(r"^([0-9]{1,9})([dw])$")
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_LANGUAGE = re.compile(LANGUAGE_TAG)
#: A host name or an IPv4/IPv6 address to bind to: letters, digits, '.', '-', ':' (no scheme, no port).
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$")
_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_LONGEST = timedelta(days=365)
#: A cadence without ``start`` is checked from here; 5-field crons and the epoch-anchored intervals
#: repeat, so any fixed date answers "does it ever fire?".
_REFERENCE_START = date(2000, 1, 1)


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
    stored in PostgreSQL, and a line break or terminal escape would garble alerts and logs.
    """
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


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"unknown time zone '{value}'{did_you_mean(value, _zones())}")
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
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock)]
PlausibleDate = Annotated[date, AfterValidator(_check_plausible_date)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Database(_Strict):
    url: str = "sqlite+aiosqlite:///./checkin.sqlite3"

    @field_validator("url")
    @classmethod
    def _no_password(cls, url: str) -> str:
        if is_reference(url):
            return url
        if "://" not in url:
            raise ValueError("expected a database URL such as sqlite+aiosqlite:///./checkin.sqlite3")
        try:
            password = urlsplit(url).password
        except ValueError:
            raise ValueError("the database URL cannot be parsed") from None
        if password:
            raise ValueError(
                "the URL contains a password; write url: ${CHECKIN_DATABASE_URL} "
                "and put the URL in that environment variable"
            )
        return url


class _Secrets(_Strict):
    """Platform credentials: only ``${ENV_VAR}`` references, so tokens never sit in a file.

    ``secret_fields`` names the fields this holds for; other settings (an API URL) may be written plainly.
    """

    env_prefix: ClassVar[str]
    secret_fields: ClassVar[frozenset[str] | None] = None  # None: every field is a secret

    @field_validator("*")
    @classmethod
    def _reference_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if cls.secret_fields is not None and info.field_name not in cls.secret_fields:
            return value
        if value is None or is_reference(value):
            return value
        variable = f"{cls.env_prefix}_{(info.field_name or '').upper()}"
        raise ValueError(
            f"secrets must not be written in the config; write ${{{variable}}} here "
            f"and set the {variable} environment variable"
        )


class SlackHttp(_Strict):
    """HTTP mode: Slack posts events and button presses to ``path`` on ``listen:port`` (``GET /healthz`` too)."""

    listen: str = "0.0.0.0"  # reachable from the load balancer or reverse proxy
    port: int = Field(3000, ge=1, le=65535)
    path: str = "/slack/events"

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/") or path == "/healthz":
            raise ValueError("expected an absolute path such as /slack/events (other than /healthz)")
        return path


class SlackPlatform(_Secrets):
    """Slack: Socket Mode by default (``app_token``), or HTTP mode (``signing_secret``, a public URL)."""

    env_prefix: ClassVar[str] = "SLACK"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"bot_token", "app_token", "signing_secret"})
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    mode: Literal["socket", "http"] = "socket"
    #: The Web API base URL; another for GovSlack (https://slack-gov.com/api/) or a test server.
    api_url: str | None = None
    http: SlackHttp | None = None

    @field_validator("api_url")
    @classmethod
    def _web_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("expected an https:// (or http://) Web API base URL; Slack's own is slack.com/api/")
        return url

    @model_validator(mode="after")
    def _credentials_for_mode(self) -> Self:
        errors: list[InitErrorDetails] = []

        def problem(field: str, message: str) -> None:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("slack_mode", message), loc=(field,), input=getattr(self, field)
                )
            )

        if self.mode == "socket" and self.app_token is None:
            problem(
                "app_token",
                "mode: socket (the default) needs app_token, the app-level token: write "
                "app_token: ${SLACK_APP_TOKEN} (an xapp- token with connections:write), or set mode: http",
            )
        if self.mode == "http" and self.signing_secret is None:
            problem(
                "signing_secret",
                "mode: http needs signing_secret, the app's signing secret that verifies requests: write "
                "signing_secret: ${SLACK_SIGNING_SECRET}",
            )
        if self.mode == "socket" and self.http is not None:
            problem("http", "the http settings apply to mode: http only; remove them or set mode: http")
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class TelegramWebhook(_Secrets):
    """Webhook mode: Telegram posts updates to ``url``; this process listens on ``listen:port``.

    Several replicas can run behind one load balancer in this mode (only one process may poll a bot).
    """

    env_prefix: ClassVar[str] = "TELEGRAM_WEBHOOK"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"secret_token"})
    url: str
    listen: str = "0.0.0.0"  # reachable from the load balancer
    port: int = Field(8443, ge=1, le=65535)
    #: Telegram sends it in ``X-Telegram-Bot-Api-Secret-Token``; requests without it are refused.
    secret_token: str

    @field_validator("secret_token")
    @classmethod
    def _reference_only(cls, value: str) -> str:  # type: ignore[override]  # names the variable as documented
        if not is_reference(value):
            raise ValueError(
                "secrets must not be written in the config; write ${TELEGRAM_WEBHOOK_SECRET} here "
                "and set the TELEGRAM_WEBHOOK_SECRET environment variable"
            )
        return value

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ValueError("the webhook URL cannot be parsed") from None
        local = parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError(
                "Telegram only posts to https URLs: expected https://your.host/telegram "
                "(http is accepted for 127.0.0.1 and localhost only)"
            )
        if not parts.hostname:
            raise ValueError("the webhook URL has no host: expected https://your.host/telegram")
        if parts.query or parts.fragment:
            raise ValueError("the webhook URL must not have a query or fragment; the path alone is served")
        return url


class TelegramPlatform(_Secrets):
    env_prefix: ClassVar[str] = "TELEGRAM"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"bot_token"})
    bot_token: str
    #: The Bot API base URL the token is appended to; another for a self-hosted Bot API server or a test.
    api_url: str | None = None
    #: Webhook mode instead of long polling; needed to run several replicas.
    webhook: TelegramWebhook | None = None


class Platforms(_Strict):
    slack: SlackPlatform | None = None
    telegram: TelegramPlatform | None = None


class Scheduling(_Strict):
    """When a missed check-in is still worth sending, and how often the safety-net sweep runs."""

    catch_up_grace: Duration = timedelta(hours=6)
    sweep_interval: Duration = timedelta(seconds=60)

    @field_validator("sweep_interval")
    @classmethod
    def _sensible_sweep(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=5) <= value <= timedelta(hours=1):
            raise ValueError("the sweep interval must be between 5s and 1h: reminders and expiry run on it")
        return value


class RateLimitOverrides(_Strict):
    """Any of a platform's sending limits, replacing the built-in default for that one value."""

    global_per_second: float | None = Field(None, gt=0, le=1000)
    global_burst: int | None = Field(None, ge=1, le=1000)
    per_recipient_per_second: float | None = Field(None, gt=0, le=100)
    per_recipient_burst: int | None = Field(None, ge=1, le=100)


class Outbox(_Strict):
    """Sending: how long a replica may hold a message before another takes it over, how long a message that
    keeps failing is retried before it is given up, and the platforms' limits."""

    lease: Duration = timedelta(seconds=60)
    give_up_after: Duration = timedelta(hours=24)
    rate_limits: dict[Literal["slack", "telegram"], RateLimitOverrides] = {}

    @field_validator("lease")
    @classmethod
    def _sensible_lease(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=5) <= value <= timedelta(hours=1):
            raise ValueError("the lease must be between 5s and 1h: longer than one send, short enough to recover")
        return value

    @field_validator("give_up_after")
    @classmethod
    def _sensible_horizon(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=10) <= value <= timedelta(days=7):
            raise ValueError("give_up_after must be between 10m and 7d: long enough to outlast a platform outage")
        return value


class ObservabilityHttp(_Strict):
    """Where ``/healthz`` and ``/metrics`` are served: loopback by default, since metrics are for the operator."""

    listen: str = "127.0.0.1"
    port: int = Field(9108, ge=1, le=65535)

    @field_validator("listen")
    @classmethod
    def _address(cls, listen: str) -> str:
        if not _HOST.match(listen):
            raise ValueError("expected an address to listen on, such as 127.0.0.1, 0.0.0.0 or ::")
        return listen


class Observability(_Strict):
    """How the bot reports on itself: log lines as text or JSON, and an optional health and metrics server."""

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http: ObservabilityHttp | None = None


class DropSettings(_Strict):
    """``drop``: the alliance index falls beyond the client's own usual variation (reliable change).

    Defaults, tuned on ``benchmarks/signals_eval.py``: a baseline of up to 8 earlier check-ins is about two
    months of weekly check-ins, recent enough to be "usual" now; 4 is the fewest whose spread means anything.
    ``z: 3.0`` rather than the textbook 1.96 because the test runs at every check-in: at 1.96 a stable client
    would cross it by chance every few months. ``min_sd: 0.25`` (a quarter point on the 1–5 index) stands in
    for the spread of a client whose answers never vary, so one point less on one question is not "beyond
    their range". ``min_change: 0.75`` because a smaller fall of the index is not something a coach can act on.
    """

    enabled: bool = True
    baseline: int = Field(8, ge=2, le=52)
    min_history: int = Field(4, ge=2, le=52)
    z: float = Field(3.0, gt=0, le=10)
    min_sd: float = Field(0.25, gt=0, le=4)
    min_change: float = Field(0.75, ge=0, le=4)

    @model_validator(mode="after")
    def _history_fits(self) -> Self:
        if self.min_history > self.baseline:
            raise ValueError("min_history cannot be larger than baseline")
        return self


class DowntrendSettings(_Strict):
    """``downtrend``: a sustained fall of the alliance index that no single check-in shows.

    Defaults: a window of 6 check-ins (six weeks at a weekly cadence) is long enough for a slope to mean
    something and short enough to be "recent". A fitted fall of at least 0.2 points per check-in is a whole
    point over the window, every answer a point lower; the slope must also be at least ``t: 3`` standard
    errors below zero, so a noisy client's zig-zag is not read as a trend. Gentler slopes raised false alarms
    for stable clients on the evaluation set while the drop and floor detectors catch slow slides later anyway.
    """

    enabled: bool = True
    window: int = Field(6, ge=3, le=52)
    min_slope: float = Field(0.2, gt=0, le=4)
    t: float = Field(3.0, ge=0, le=20)


class WithdrawalSettings(_Strict):
    """``withdrawal``: the client pulling back: check-ins missed, answered much later or much more briefly.

    A check-in counts as withdrawn when it expired or was skipped, or was answered at least ``slower_factor``
    times later than the client's median (and at least ``slower_min`` later, so 2 minutes against a usual
    30 seconds is not news), or with at most ``shorter_factor`` of their usual amount of text (only for clients
    who usually write at least ``min_usual_chars``), or with ``skipped_items`` relationship questions left out.
    ``in_a_row: 3`` because busy, committed clients miss two in a row (travel, a launch week) but rarely three.
    The client's norm needs ``min_history: 4`` answered check-ins.
    """

    enabled: bool = True
    in_a_row: int = Field(3, ge=1, le=20)
    min_history: int = Field(4, ge=2, le=52)
    slower_factor: float = Field(4.0, gt=1, le=100)
    slower_min: Duration = timedelta(hours=12)
    shorter_factor: float = Field(0.25, gt=0, lt=1)
    min_usual_chars: int = Field(60, ge=1, le=10_000)
    skipped_items: int = Field(2, ge=1, le=5)


class WordsSettings(_Strict):
    """``words`` and ``wellbeing``: phrases in free text, from ``prompts/risk_phrases.yaml``."""

    enabled: bool = True


class StalledProgressSettings(_Strict):
    """``stalled_progress``: goal progress flat or falling; context for the coach, never an alert on its own.

    Defaults: 4 check-ins (a month at a weekly cadence) with no rise and a latest answer at or below 3 ("some")
    on the 1–5 scale: flat at "a lot" is not stalled, and three check-ins of "a little" can be a slow start.
    """

    enabled: bool = True
    window: int = Field(4, ge=2, le=52)
    at_most: float = Field(3, ge=1, le=5)


class Alerts(_Strict):
    """When a coach is told, and how often. Each detector has its own section; every key is optional.

    ``cooldown`` is per client and signal kind: within it a coach hears about the same kind again only when it
    got worse. ``resend_urgent_after`` re-sends an urgent alert nobody acknowledged, once.
    """

    low_score_floor: int = Field(2, ge=1, le=5)
    cooldown: Duration = timedelta(days=7)
    resend_urgent_after: Duration = timedelta(hours=24)
    drop: DropSettings = DropSettings()
    downtrend: DowntrendSettings = DowntrendSettings()
    withdrawal: WithdrawalSettings = WithdrawalSettings()
    words: WordsSettings = WordsSettings()
    stalled_progress: StalledProgressSettings = StalledProgressSettings()


class QuietHours(_Strict):
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self


class AfterSessions(_Strict):
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


class CadenceFields(_Strict):
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


class SlackIdentity(_Strict):
    """A Slack user, by id or by the e-mail Slack can look up."""

    user_id: str | None = None
    email: str | None = None

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_USER.fullmatch(value):
            raise ValueError("expected a Slack user id such as U0123ABCD")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError("expected an e-mail address")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of 'user_id' or 'email'")
        return self


class TelegramIdentity(_Strict):
    """Empty on purpose: a Telegram chat is bound later through a one-time invite link."""


class Coach(_Strict):
    id: Id
    name: Label
    timezone: TimeZoneName
    slack: SlackIdentity | None = None
    telegram: TelegramIdentity | None = None
    digest: Literal["weekly", "daily", "off"] = "weekly"

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.slack is None and self.telegram is None:
            raise ValueError("a coach needs 'slack' or 'telegram' (or both) so alerts can reach them")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Goal(_Strict):
    id: Id
    title: Label
    active: bool = True


class Pause(_Strict):
    """``{from: 2026-12-20, to: 2027-01-04}``: a holiday or leave, both dates included, in local time."""

    first: PlausibleDate = Field(alias="from")
    last: PlausibleDate = Field(alias="to")

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        if self.last < self.first:
            raise ValueError(f"'to' ({self.last}) is before 'from' ({self.first})")
        return self


class Client(_Strict):
    id: Id
    name: Label
    coach: str
    timezone: TimeZoneName
    cadence: str
    cadence_overrides: CadenceFields | None = None
    question_set: str = "default"
    language: str = Field("en", pattern=_LANGUAGE.pattern)
    slack: SlackIdentity | None = None
    telegram: TelegramIdentity | None = None
    paused_until: PlausibleDate | None = None
    pauses: tuple[Pause, ...] = ()
    sessions: tuple[PlausibleDate, ...] = ()
    goals: tuple[Goal, ...] = ()

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if (self.slack is None) == (self.telegram is None):
            raise ValueError("a client needs exactly one of 'slack' or 'telegram'")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Config(_Strict):
    database: Database = Database()
    platforms: Platforms = Platforms()
    alerts: Alerts = Alerts()
    scheduling: Scheduling = Scheduling()
    outbox: Outbox = Outbox()
    observability: Observability = Observability()
    question_sets: dict[SetName, Annotated[str, Field(min_length=1)]] = {}
    cadences: dict[Id, Cadence] = {}
    coaches: tuple[Coach, ...]
    clients: tuple[Client, ...] = ()
    #: Days check-ins, answers, alerts and sent messages are kept; older ones are deleted daily. None keeps all.
    retention_days: int | None = Field(None, ge=7, le=3650)

    @field_validator("clients")
    @classmethod
    def _overrides_fit(cls, clients: tuple[Client, ...], info: ValidationInfo) -> tuple[Client, ...]:
        """Check each overridden cadence as a whole, reporting at the client's ``cadence_overrides``.

        A field validator rather than a model validator so that it still runs when, say, a coach is
        invalid; it is skipped when the cadences themselves failed (they are reported on their own).
        """
        cadences: dict[str, Cadence] | None = info.data.get("cadences")
        errors: list[InitErrorDetails] = []
        for index, client in enumerate(clients):
            named = (cadences or {}).get(client.cadence)
            if named is None or client.cadence_overrides is None:
                continue
            problems = named.with_overrides(client.cadence_overrides).problems()
            if problems:
                message = f"with these overrides of cadence '{client.cadence}': {'; '.join(problems)}"
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("cadence_overrides", "{message}", {"message": message}),
                        loc=(index, "cadence_overrides"),
                        input=client.cadence_overrides.model_dump(),
                    )
                )
        if errors:
            # pydantic merges a ValidationError raised here into its own, under this field's location.
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return clients

    @field_validator("observability")
    @classmethod
    def _own_port(cls, observability: Observability, info: ValidationInfo) -> Observability:
        """The metrics server and the Telegram webhook server cannot share a port; say so before either binds."""
        platforms: Platforms | None = info.data.get("platforms")
        webhook = platforms.telegram.webhook if platforms is not None and platforms.telegram is not None else None
        http = observability.http
        if http is not None and webhook is not None and http.port == webhook.port:
            message = f"port {http.port} is already the Telegram webhook's (platforms.telegram.webhook.port)"
            error = InitErrorDetails(
                type=PydanticCustomError("port_in_use", "{message}", {"message": message}),
                loc=("http", "port"),
                input=http.port,
            )
            raise ValidationError.from_exception_data(cls.__name__, [error])
        return observability

    @cached_property
    def clients_by_id(self) -> dict[str, Client]:
        """The scheduler looks clients up on every tick; a dict keeps that independent of their number."""
        return {client.id: client for client in self.clients}

    def cadence_of(self, client: Client) -> Cadence:
        """The cadence ``client`` follows: the named one with the client's overrides applied."""
        return self.cadences[client.cadence].with_overrides(client.cadence_overrides)
