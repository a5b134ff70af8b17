"""``GET /healthz`` and ``GET /metrics`` on a small aiohttp server, when ``observability.http`` is configured.

``/healthz`` answers 200 ``ok`` only while the database answers and the scheduler is running, so a load balancer
or systemd watchdog takes a replica out while it starts, stops, or has lost its database; otherwise 503 with a
short JSON body naming what is wrong (never a connection string). ``/metrics`` is the Prometheus text format of
``Metrics``, with the outbox depth. What both say of the database comes from one ``StoreSnapshot``: a read-only
query at most once per ``refresh`` seconds, so pollers never take SQLite's write lock nor load the database.
The server runs under ``HttpLimits`` like the platforms' servers (``bot.contract.http_server``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.contract.http_server import DEFAULT_LIMITS, HttpLimits, start_guarded_server
from bot.observability.errors import ListenError
from bot.observability.metrics import Metrics
from bot.observability.snapshot import StoreSnapshot
from bot.store import Database

log = logging.getLogger(__name__)

#: How long a check may wait for the database: a load balancer's probe usually gives up after about 5 s.
CHECK_TIMEOUT = 3.0


class ObservabilityServer:
    """Serves health and metrics for one runtime; ``start`` binds the port, ``stop`` closes it."""

    def __init__(
        self,
        database: Database,
        metrics: Metrics,
        scheduler_running: Callable[[], bool],
        *,
        listen: str,
        port: int,
        refresh: float = 5.0,
        limits: HttpLimits = DEFAULT_LIMITS,
        mount: Callable[[web.Application], None] | None = None,
        serve_metrics: bool = True,
        section: str = "observability.http",
    ) -> None:
        """``scheduler_running`` says whether check-ins are being dispatched (false while starting and stopping);
        ``refresh`` is how old, in seconds, the database's reading may be (0: read it at each poll, one read
        at a time).

        ``mount`` adds more routes to the same server (the coach's dashboard); ``serve_metrics`` False leaves out
        ``/metrics`` (a dashboard facing coaches has no business showing them); ``section`` names the config
        section the address came from, for the error when it cannot be bound."""
        self._snapshot = StoreSnapshot(database, max_age=refresh, timeout=CHECK_TIMEOUT)
        self._metrics = metrics
        self._scheduler_running = scheduler_running
        self._listen = listen
        self._port = port
        self._limits = limits
        self._mount = mount
        self._serve_metrics = serve_metrics
        self._section = section
        self._runner: web.AppRunner | None = None
        self._healthy = True  # the last answer, so a failing database is logged when it starts failing, not per probe

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the system chose for port 0)."""
        if self._runner is None:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        routes = [web.get("/healthz", self._on_healthz)]
        if self._serve_metrics:
            routes.append(web.get("/metrics", self._on_metrics))
        try:
            self._runner = await start_guarded_server(
                routes,
                what=self._section,
                listen=self._listen,
                port=self._port,
                limits=self._limits,
                mount=self._mount,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise ListenError(f"{self._section}: cannot listen on {self._listen}:{self._port}: {reason}") from None
        app = self._runner.app
        paths = ", ".join(route.resource.canonical for route in app.router.routes() if route.resource is not None)
        what = "health and metrics" if self._serve_metrics else "health"
        log.info("%s served on %s:%s (%s)", what, self._listen, self.port, paths)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._snapshot.close()

    async def _on_healthz(self, request: web.Request) -> web.Response:
        problems: list[str] = []
        if not self._scheduler_running():
            problems.append("scheduler not running")
        reading = await self._snapshot.current()
        if reading.problem is not None:
            problems.append(reading.problem)
        healthy = not problems
        if healthy != self._healthy:
            if healthy:
                log.info("healthy again")
            else:
                log.warning("unhealthy: %s", "; ".join(problems))
            self._healthy = healthy
        if problems:
            return web.json_response({"status": "unavailable", "problems": problems}, status=503)
        return web.Response(text="ok")

    async def _on_metrics(self, request: web.Request) -> web.Response:
        reading = await self._snapshot.current()
        if reading.problem is not None:
            log.warning("metrics: no outbox depth, %s", reading.problem)
        body = self._metrics.exposition(reading.outbox_depth)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
