"""The small aiohttp server Slack's HTTP mode and Telegram's webhook mode each run: one POST route for the
platform and ``GET /healthz`` for a load balancer.

Kept in one place so both answer health checks alike and a port that cannot be had stops the start with one
line (``AdapterStartError``) instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.contract.adapter import AdapterStartError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_http_server(
    *, what: str, path: str, handler: Handler, listen: str, port: int, shutdown_timeout: float
) -> web.AppRunner:
    """Serve ``POST path`` and ``GET /healthz`` on ``listen:port``; the runner's ``cleanup`` stops it, waiting
    up to ``shutdown_timeout`` seconds for requests in flight."""
    app = web.Application()
    app.router.add_post(path, handler)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, listen, port).start()
    except OSError as error:
        await runner.cleanup()
        raise AdapterStartError(f"{what} cannot listen on {listen}:{port}: {error.strerror or error}") from error
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
