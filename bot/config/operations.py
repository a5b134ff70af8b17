"""How the bot itself runs: its database, the scheduler's sweep, the outbox and its sending limits, logs and metrics."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from bot.config.fields import Duration, Strict
from bot.config.secrets import is_reference

#: A host name or an IPv4/IPv6 address to bind to: letters, digits, '.', '-', ':' (no scheme, no port).
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$")


class Database(Strict):
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


class Inbound(Strict):
    """Where events a platform will not deliver again once acknowledged (Slack's) wait on local disk until handled.

    Relative to the working directory, like the default SQLite file; each process on a host writes its own file
    there, and adopts those a stopped process left (``bot.runtime.spool``).
    """

    spool: str = Field("./checkin-spool", min_length=1)


class Scheduling(Strict):
    """When a missed check-in is still worth sending, and how often the safety-net sweep runs."""

    catch_up_grace: Duration = timedelta(hours=6)
    sweep_interval: Duration = timedelta(seconds=60)

    @field_validator("sweep_interval")
    @classmethod
    def _sensible_sweep(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=5) <= value <= timedelta(hours=1):
            raise ValueError("the sweep interval must be between 5s and 1h: reminders and expiry run on it")
        return value


class RateLimitOverrides(Strict):
    """Any of a platform's sending limits, replacing the built-in default for that one value."""

    global_per_second: float | None = Field(None, gt=0, le=1000)
    global_burst: int | None = Field(None, ge=1, le=1000)
    per_recipient_per_second: float | None = Field(None, gt=0, le=100)
    per_recipient_burst: int | None = Field(None, ge=1, le=100)


class Outbox(Strict):
    """Sending: how long a replica may hold a message before another takes it over, how long a message that
    keeps failing is retried before it is given up, and the platforms' limits."""

    lease: Duration = timedelta(seconds=60)
    give_up_after: Duration = timedelta(hours=24)
    rate_limits: dict[Literal["slack", "telegram"], RateLimitOverrides] = Field(default_factory=dict)

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


class HttpServers(Strict):
    """What each client may hold of every HTTP server the bot runs (Slack HTTP mode, the Telegram webhook,
    ``/healthz`` and ``/metrics``), so slow or idle connections cannot crowd out the platforms' requests."""

    #: How long a request's head may take to arrive, and then its body; slower connections are closed.
    header_timeout: Duration = timedelta(seconds=10)
    #: How long a kept-alive connection may wait for its next request.
    idle_timeout: Duration = timedelta(seconds=60)
    #: Connections open at once per server; beyond it the oldest idle one is closed. Keep it well under the
    #: process's file limit (LimitNOFILE in deploy/checkin-bot.service).
    max_connections: int = Field(256, ge=8, le=16384)
    #: The largest request body accepted; Slack's and Telegram's requests are a few KiB.
    max_body_bytes: int = Field(1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)

    @field_validator("header_timeout", "idle_timeout")
    @classmethod
    def _sensible_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("must be between 1s and 10m: long enough for a slow network, short enough to free")
        return value


class ObservabilityHttp(Strict):
    """Where ``/healthz`` and ``/metrics`` are served: loopback by default, since metrics are for the operator."""

    listen: str = "127.0.0.1"
    #: 0 lets the system pick a free port; the start-up log line says which (how tests run several bots at once).
    port: int = Field(9108, ge=0, le=65535)
    #: How old the database's answer (reachable, outbox depth) that /healthz and /metrics report may be: one read
    #: per period however many pollers ask, never a write lock.
    refresh: Duration = timedelta(seconds=5)

    @field_validator("refresh")
    @classmethod
    def _sensible_refresh(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=5):
            raise ValueError("the refresh must be between 1s and 5m: fresh enough for a probe, rare enough to be free")
        return value

    @field_validator("listen")
    @classmethod
    def _address(cls, listen: str) -> str:
        if not _HOST.match(listen):
            raise ValueError("expected an address to listen on, such as 127.0.0.1, 0.0.0.0 or ::")
        return listen


class Observability(Strict):
    """How the bot reports on itself: log lines as text or JSON, and an optional health and metrics server."""

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http: ObservabilityHttp | None = None
