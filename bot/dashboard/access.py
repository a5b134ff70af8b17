"""Who is looking: one-time links become browser sessions, and a session cookie becomes a ``Viewer``.

The session cookie is a random token the database knows only by its hash; it is HttpOnly, SameSite=Strict,
Secure when the dashboard's public address is https, and ends after ``SESSION_IDLE`` without a request. Each
session carries its own CSRF token, which every form posts back. A session whose coach is removed from the
database ends with them (the foreign key cascades); an admin's session (``coach_id`` None) is read-only.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bot.coaching.dashboard_link import new_token, token_hash
from bot.store import Database, Session, dashboard
from bot.timing.clock import Clock

#: A session ends after this long without a request.
SESSION_IDLE = timedelta(hours=12)
#: The session cookie's name.
COOKIE = "checkin_dashboard"
#: Where the cookie is sent: the dashboard's pages only, not /healthz or /metrics.
COOKIE_PATH = "/dashboard"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in browser: whose clients it sees (``coach_id`` None: every client, read-only)."""

    coach_id: str | None
    csrf_token: str

    @property
    def read_only(self) -> bool:
        return self.coach_id is None

    def csrf_ok(self, sent: str) -> bool:
        """Whether a form carried this session's token (compared in constant time)."""
        return hmac.compare_digest(sent.encode("utf-8"), self.csrf_token.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Seen:
    """A session cookie recognised: its viewer, and its hash when its last use must be written (else None)."""

    viewer: Viewer
    stale: str | None


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """What the browser is told about the session cookie; ``secure`` follows the public address's scheme."""

    secure: bool

    def attributes(self) -> dict[str, object]:
        """Keyword arguments for aiohttp's ``set_cookie``: sent back only to the dashboard, never to scripts
        or from another site, and forgotten by the browser after the idle limit too."""
        return {
            "path": COOKIE_PATH,
            "httponly": True,
            "secure": self.secure,
            "samesite": "Strict",
            "max_age": int(SESSION_IDLE.total_seconds()),
        }


class Access:
    """Signs browsers in with a link token and recognises them by their cookie."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def sign_in(self, link_token: str) -> str | None:
        """Redeem a one-time link: the new session's cookie value, or None for a link unknown, used or expired."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            link = await dashboard.redeem_link(session, token_hash(link_token), now)
            if link is None:
                return None
            cookie = new_token()
            csrf = secrets.token_urlsafe(24)
            await dashboard.create_session(session, token_hash(cookie), link.coach_id, csrf, now, SESSION_IDLE)
        return cookie

    async def viewer(self, cookie: str | None) -> Viewer | None:
        """Who holds this cookie; None without one, or for a session that ended."""
        async with self._database.reading() as session:
            seen = await self.seen(session, cookie)
        if seen is None:
            return None
        await self.touch(seen)
        return seen.viewer

    async def seen(self, session: Session, cookie: str | None) -> Seen | None:
        """Who holds this cookie, read in the caller's reading ``session`` (a page reads its own values in the
        same one); ``touch`` it once that session is over."""
        if not cookie:
            return None
        now, id_hash = self._clock.now(), token_hash(cookie)
        found = await dashboard.live_session(session, id_hash, now, SESSION_IDLE)
        if found is None:
            return None
        # A write at most once a minute per browser, not per page.
        return Seen(Viewer(found.coach_id, found.csrf_token), id_hash if dashboard.needs_touch(found, now) else None)

    async def touch(self, seen: Seen) -> None:
        """Keep a session that was used alive, when its last use is stale enough to be written again."""
        if seen.stale is not None:
            async with self._database.transaction() as session:
                await dashboard.touch_session(session, seen.stale, self._clock.now())

    async def sign_out(self, cookie: str) -> None:
        async with self._database.transaction() as session:
            await dashboard.end_session(session, token_hash(cookie))
