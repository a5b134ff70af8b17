"""``coaches`` and ``clients``: who is coached by whom, where they are reached, and their goals and pauses."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from bot.config.cadence import CadenceFields, QuietHours
from bot.config.fields import ClockTime, Id, Label, PlausibleDate, Strict, TimeZoneName
from bot.conversation.languages import LANGUAGE_TAG

#: How a coach hears about completed check-ins: a summary of each as it completes, or only in the digest.
CheckinSummaries = Literal["each", "digest"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_LANGUAGE = re.compile(LANGUAGE_TAG)


class SlackIdentity(Strict):
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


class TelegramIdentity(Strict):
    """Empty on purpose: a Telegram chat is bound later through a one-time invite link."""


class Coach(Strict):
    id: Id
    name: Label
    timezone: TimeZoneName
    slack: SlackIdentity | None = None
    telegram: TelegramIdentity | None = None
    digest: Literal["weekly", "daily", "off"] = "weekly"
    #: ``each`` sends every completed check-in to the coach at once; ``digest`` leaves it to the digest.
    checkin_summaries: CheckinSummaries = "each"
    #: Local hours in which nothing but urgent alerts reaches the coach; the rest waits until they end.
    quiet_hours: QuietHours | None = None
    #: The pre-session brief arrives ``brief_days_before`` days before each session at ``brief_at`` (the
    #: coach's local time): by default the evening before, when there is still time to read it.
    brief_at: ClockTime = time(18, 0)
    brief_days_before: int = Field(1, ge=0, le=7)

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.slack is None and self.telegram is None:
            raise ValueError("a coach needs 'slack' or 'telegram' (or both) so alerts can reach them")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Goal(Strict):
    id: Id
    title: Label
    active: bool = True


class Pause(Strict):
    """``{from: 2026-12-20, to: 2027-01-04}``: a holiday or leave, both dates included, in local time."""

    first: PlausibleDate = Field(alias="from")
    last: PlausibleDate = Field(alias="to")

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        if self.last < self.first:
            raise ValueError(f"'to' ({self.last}) is before 'from' ({self.first})")
        return self


class Client(Strict):
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
    #: Overrides the coach's ``checkin_summaries`` for this client.
    checkin_summaries: CheckinSummaries | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if (self.slack is None) == (self.telegram is None):
            raise ValueError("a client needs exactly one of 'slack' or 'telegram'")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
