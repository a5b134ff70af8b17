"""The small server Slack's HTTP mode and Telegram's webhook mode each run: one POST route for the platform and
``GET /healthz`` for a load balancer, under the core's hardened server (``bot.contract.http_server``).

Kept in one place so both answer health checks alike and a port that cannot be had stops the start with one
line (``AdapterStartError``) instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.contract.adapter import AdapterStartError
from bot.contract.http_server import HttpLimits, start_guarded_server

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_http_server(
    *, what: str, path: str, handler: Handler, listen: str, port: int, limits: HttpLimits, shutdown_timeout: float
) -> web.AppRunner:
    """Serve ``POST path`` and ``GET /healthz`` on ``listen:port`` under ``limits``; the runner's ``cleanup``
    stops it, waiting up to ``shutdown_timeout`` seconds for requests in flight."""
    routes = [web.post(path, handler), web.get("/healthz", _healthz)]
    try:
        return await start_guarded_server(
            routes, what=what, listen=listen, port=port, limits=limits, shutdown_timeout=shutdown_timeout
        )
    except OSError as error:
        raise AdapterStartError(f"{what} cannot listen on {listen}:{port}: {error.strerror or error}") from error


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
