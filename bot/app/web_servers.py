"""The HTTP servers `checkin run` starts: health and metrics (``observability.http``) and the coach's dashboard
(``dashboard``), one aiohttp server when both name the same address, two otherwise.

A dashboard on its own address answers ``/healthz`` too (a reverse proxy can probe it) but not ``/metrics``,
which is for the operator, not for the coaches who reach that address.

The servers' modules (aiohttp, Jinja2: about 0.15 s and 11 MB) are imported only when the config asks for a
server: a console run or a bot with neither section never loads them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.app.builder import Bot
from bot.app.platforms import http_limits
from bot.timing.clock import Clock

if TYPE_CHECKING:
    from bot.observability.server import ObservabilityServer


def web_servers(bot: Bot, clock: Clock, scheduler_running: Callable[[], bool]) -> list[ObservabilityServer]:
    """The servers the config asks for, not yet started."""
    config = bot.config
    http, settings = config.observability.http, config.dashboard
    if http is None and settings is None:
        return []
    from bot.dashboard.web import Dashboard
    from bot.observability.server import ObservabilityServer

    dashboard = (
        Dashboard(
            database=bot.database, setup=bot.setup, clock=clock, secure=settings.secure, wake_outbox=bot.outbox.wake
        )
        if settings is not None
        else None
    )
    # Port 0 asks the system for any free port, so two sections with port 0 get two servers.
    shared = (
        http is not None
        and settings is not None
        and http.port != 0
        and (http.listen, http.port) == (settings.host, settings.port)
    )
    # Both servers answer health from the same snapshot settings and hold clients to the same limits.
    server = functools.partial(
        ObservabilityServer,
        bot.database,
        bot.metrics,
        scheduler_running,
        refresh=http.refresh.total_seconds() if http is not None else 5.0,
        limits=http_limits(config),
    )
    servers = []
    if http is not None:
        mount = dashboard.mount if shared and dashboard is not None else None
        servers.append(server(listen=http.listen, port=http.port, mount=mount))
    if settings is not None and dashboard is not None and not shared:
        servers.append(
            server(
                listen=settings.host,
                port=settings.port,
                mount=dashboard.mount,
                serve_metrics=False,
                section="dashboard.listen",
            )
        )
    return servers
