"""The dashboard's HTTP side: routes on the aiohttp server that also answers /healthz.

Every page is rendered server-side from ``prompts/dashboard/*.html`` with autoescaping on, so whatever a client
wrote reaches the browser as text. Every response forbids scripts, frames and anything from elsewhere
(``SECURITY_HEADERS``); pages are never cached. A form posts this session's CSRF token, and an action runs the
same coach command a chat button sends, through the coach desk, in one transaction; the admin's view has no
buttons and its posts are refused. Page loads are paced per session, and per address for the sign-in pages
(``bot.dashboard.pacing``): past the pace, a plain 429 page.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.coaching import commands
from bot.dashboard import pages
from bot.dashboard.access import COOKIE, Access, CookieSettings, Viewer
from bot.dashboard.drawn import CLIENT_PAGES_KEPT, Drawn, DrawnRows
from bot.dashboard.pacing import ADDRESS_PACE, SESSION_PACE, Pacing
from bot.dashboard.rendered import RenderedPages
from bot.runtime.setup import LiveSetup, Setup
from bot.store import Database, Session, coaches
from bot.timing.clock import Clock

log = logging.getLogger(__name__)

#: Sent with every dashboard response: no script, no frame, nothing but this server's own stylesheet and forms.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
#: How long the dashboard's pause button pauses a client.
PAUSE = timedelta(weeks=2)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def templates() -> jinja2.Environment:
    """The page templates, autoescaped; a missing value is an error, not an empty string."""
    folder = resources.files("prompts") / "dashboard"
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        enable_async=False,
    )
    environment.filters["day"] = _day
    environment.filters["moment"] = _moment
    return environment


class Dashboard:
    """The dashboard's routes; ``mount`` adds them to an aiohttp application."""

    def __init__(
        self,
        *,
        database: Database,
        setup: LiveSetup,
        clock: Clock,
        secure: bool,
        wake_outbox: Callable[[], None],
        pace_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``secure``: the public address is https, so the cookie is sent over https only. ``wake_outbox``
        sends what an action queued (a check-in sent now) without waiting for the next poll. ``pace_clock``
        is the monotonic time the page-load limits count in."""
        self._database = database
        self._setup = setup
        self._clock = clock
        self._access = Access(database, clock)
        self._cookie = CookieSettings(secure)
        self._wake_outbox = wake_outbox
        self._templates = templates()
        self._rows: DrawnRows[Drawn] = DrawnRows()
        self._histories: DrawnRows[pages.DrawnHistory] = DrawnRows(CLIENT_PAGES_KEPT)
        self._rendered = RenderedPages()
        self._sessions = Pacing(SESSION_PACE, pace_clock)
        self._addresses = Pacing(ADDRESS_PACE, pace_clock)
        self._stylesheet = (resources.files("prompts") / "dashboard" / "style.css").read_bytes()

    def mount(self, app: web.Application) -> None:
        app.middlewares.append(self._headers)
        app.router.add_get("/dashboard", self._on_bare)
        app.router.add_get("/dashboard/style.css", self._on_style)
        app.router.add_get("/dashboard/open", self._by_address(self._on_open_page))
        app.router.add_post("/dashboard/open", self._by_address(self._on_open))
        app.router.add_post("/dashboard/sign-out", self._signed_in(self._on_sign_out))
        app.router.add_get("/dashboard/", self._reading(self._on_practice))
        app.router.add_get("/dashboard/alerts", self._reading(self._on_alerts))
        app.router.add_get("/dashboard/clients/{client_id}", self._reading(self._on_client))
        app.router.add_post("/dashboard/alerts/{alert_id:[0-9]{1,10}}/ack", self._acting(self._on_ack))
        app.router.add_post("/dashboard/clients/{client_id}/{action}", self._acting(self._on_client_action))

    # ---- sign-in ----------------------------------------------------------------------------------------

    async def _on_open_page(self, request: web.Request) -> web.Response:
        """The link's landing page: a button that signs in. Opening the link alone uses nothing up, so a chat
        app's link preview cannot spend it."""
        return self._page("open.html", token=request.query.get("t", ""), viewer=None)

    async def _on_open(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = form.get("t")
        cookie = await self._access.sign_in(token) if isinstance(token, str) and token else None
        if cookie is None:
            return self._page("refused.html", status=403, reason="link", viewer=None)
        response = _see_other("/dashboard/")
        response.set_cookie(COOKIE, cookie, **self._cookie.attributes())  # type: ignore[arg-type]
        return response

    async def _on_sign_out(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        if not viewer.csrf_ok(str(form.get("csrf", ""))):
            return self._page("refused.html", status=403, reason="form", viewer=None)
        await self._access.sign_out(request.cookies[COOKIE])
        response = _see_other("/dashboard/open")
        response.del_cookie(COOKIE, path=self._cookie.attributes()["path"])  # type: ignore[arg-type]
        return response

    # ---- pages ------------------------------------------------------------------------------------------

    async def _on_practice(self, request: web.Request, viewer: Viewer, session: Session) -> web.Response:
        setup, now = self._setup.current, self._clock.now()
        rows = await pages.practice(session, setup, viewer.coach_id, now, self._rows)
        return self._kept_page(viewer, setup, "practice.html", None, rows=rows, practices=pages.PRACTICES)

    async def _on_client(self, request: web.Request, viewer: Viewer, session: Session) -> web.Response:
        setup, now = self._setup.current, self._clock.now()
        page = await pages.client_page(
            session, setup, viewer.coach_id, request.match_info["client_id"], now, self._histories
        )
        if page is None:  # another coach's client looks exactly like one that does not exist
            return self._page("refused.html", status=404, reason="client", viewer=viewer)
        return self._kept_page(viewer, setup, "client.html", page.client.id, page=page)

    async def _on_alerts(self, request: web.Request, viewer: Viewer, session: Session) -> web.Response:
        setup = self._setup.current
        found = await pages.alert_list(session, viewer.coach_id)
        return self._page("alerts.html", viewer=viewer, alerts=found, zone=_zone(viewer, setup))

    async def _on_bare(self, request: web.Request) -> web.Response:
        return _see_other("/dashboard/")

    async def _on_style(self, request: web.Request) -> web.Response:
        return web.Response(body=self._stylesheet, content_type="text/css")

    # ---- actions ----------------------------------------------------------------------------------------

    async def _on_ack(self, request: web.Request, viewer: Viewer) -> web.Response:
        command = commands.Acknowledge(alert_id=int(request.match_info["alert_id"]))
        return await self._run(request, viewer, command)

    async def _on_client_action(self, request: web.Request, viewer: Viewer) -> web.Response:
        client_id = request.match_info["client_id"]
        command: commands.CoachCommand
        match request.match_info["action"]:
            case "snooze":
                command = commands.SnoozeAlerts(client_id)
            case "checkin":
                command = commands.SendCheckIn(client_id)
            case "pause":
                command = commands.PauseClient(client_id, PAUSE)
            case _:
                raise web.HTTPNotFound()
        return await self._run(request, viewer, command)

    async def _run(self, request: web.Request, viewer: Viewer, command: commands.CoachCommand) -> web.Response:
        """Run ``command`` as the coach would from chat, and show the desk's answer."""
        assert viewer.coach_id is not None  # _acting lets only a coach's session through
        now = self._clock.now()
        async with self._database.transaction() as session:
            coach = await coaches.coach_by_id(session, viewer.coach_id)
            if coach is None:
                return self._page("refused.html", status=403, reason="session", viewer=None)
            reply = await self._setup.current.desk.execute(session, coach, command, now)
        self._wake_outbox()
        form = await request.post()
        return self._page("done.html", viewer=viewer, reply=reply.text, back=_back(str(form.get("back", ""))))

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _by_address(self, handler: Handler) -> Handler:
        """The sign-in pages, paced per browser address (no session yet to pace by)."""

        async def by_address(request: web.Request) -> web.StreamResponse:
            wait = self._addresses.wait(request.remote or "")
            return self._too_many(wait) if wait else await handler(request)

        return by_address

    def _signed_in(self, handler: Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]) -> Handler:
        async def signed_in(request: web.Request) -> web.StreamResponse:
            cookie = request.cookies.get(COOKIE)
            if wait := self._wait(request, cookie):
                return self._too_many(wait)
            viewer = await self._access.viewer(cookie)
            if viewer is None:
                return self._page("refused.html", status=401, reason="session", viewer=None)
            return await handler(request, viewer)

        return signed_in

    def _reading(self, handler: Callable[[web.Request, Viewer, Session], Awaitable[web.Response]]) -> Handler:
        """A page: the session check and the page's own values read in one reading session (each costs about
        as much to open and close as a query); the session's last use written, when due, after it."""

        async def reading(request: web.Request) -> web.StreamResponse:
            cookie = request.cookies.get(COOKIE)
            if wait := self._wait(request, cookie):
                return self._too_many(wait)
            async with self._database.reading() as session:
                seen = await self._access.seen(session, cookie)
                if seen is None:
                    return self._page("refused.html", status=401, reason="session", viewer=None)
                response = await handler(request, seen.viewer, session)
            await self._access.touch(seen)
            return response

        return reading

    def _wait(self, request: web.Request, cookie: str | None) -> float:
        """Paced before the session is looked up, so a loop costs no query; without a cookie, by address."""
        return self._sessions.wait(f"session {cookie}") if cookie else self._addresses.wait(request.remote or "")

    def _acting(self, handler: Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]) -> Handler:
        """A coach's session with this session's CSRF token in the form; the admin's view is read-only."""

        async def acting(request: web.Request, viewer: Viewer) -> web.StreamResponse:
            form = await request.post()
            if viewer.read_only or not viewer.csrf_ok(str(form.get("csrf", ""))):
                return self._page("refused.html", status=403, reason="form", viewer=viewer)
            return await handler(request, viewer)

        return self._signed_in(acting)

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = error
        if request.path.startswith("/dashboard"):
            response.headers.update(SECURITY_HEADERS)
        if isinstance(response, web.HTTPException) and response.status >= 400:
            raise response
        return response

    def _too_many(self, wait: float) -> web.Response:
        """429 with a plain page, and when to come back."""
        response = self._page("refused.html", status=429, reason="pace", viewer=None)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response

    def _kept_page(self, viewer: Viewer, setup: Setup, name: str, client_id: str | None, **values: Any) -> web.Response:
        """A page of ``values`` in the viewer's time zone, rendered again only when they differ from the page kept
        for this view of this page (``RenderedPages``)."""
        zone = _zone(viewer, setup)
        blank = Viewer(viewer.coach_id, self._rendered.placeholder)
        html = self._rendered.page(
            (name, viewer.coach_id, client_id),
            (values, zone),
            lambda: self._templates.get_template(name).render(viewer=blank, zone=zone, **values),
            viewer.csrf_token,
        )
        return web.Response(text=html, content_type="text/html")

    def _page(self, name: str, *, status: int = 200, viewer: Viewer | None, **values: Any) -> web.Response:
        html = self._templates.get_template(name).render(viewer=viewer, **values)
        return web.Response(text=html, status=status, content_type="text/html")


def _zone(viewer: Viewer, setup: Setup) -> ZoneInfo:
    """The coach's own time zone for the dates on every page; UTC for the admin's view."""
    coach = next((c for c in setup.config.coaches if c.id == viewer.coach_id), None)
    return ZoneInfo(coach.timezone) if coach is not None else ZoneInfo("UTC")


def _see_other(location: str) -> web.Response:
    """303 to ``location``: after a form, the browser loads the next page with GET."""
    return web.Response(status=303, headers={"Location": location})


def _back(path: str) -> str:
    """Where the result page's link leads: the dashboard page the form was on, never another site."""
    safe = path.startswith("/dashboard/") and "//" not in path and "\\" not in path
    return path if safe else "/dashboard/"


def _day(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%a %d %b %Y}"


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M}"
