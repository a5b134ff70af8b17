"""The coach's dashboard over HTTP on both databases: the one-time link, the session cookie, who sees what,
and the buttons (CSRF-checked, run through the coach desk like the chat buttons).

The coach asks for a link in chat like any command; the page is served by the real aiohttp app on 127.0.0.1
(port 0), requested with aiohttp's client, cookies handled by hand so every attribute is checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp import ClientSession, DummyCookieJar, web
from aiohttp.test_utils import TestServer
from sqlalchemy import insert, select

from bot.app.builder import Bot
from bot.app.web_servers import web_servers
from bot.coaching.dashboard_link import issue_link
from bot.config import load_config
from bot.config.question_sets import load_question_sets
from bot.dashboard.access import Access
from bot.dashboard.pacing import ADDRESS_PACE, SESSION_PACE
from bot.dashboard.web import Dashboard
from bot.observability.server import ObservabilityServer
from bot.store import Database
from bot.store.models import Alert, CheckIn, Client, DashboardLink, DashboardSession
from bot.timing.clock import ManualClock, SystemClock
from tests.checkin_cli import checkin
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.support.practice import SLOT
from tests.test_coach_commands import CONFIG, DANA, LEO, LOW_TRUST, MAYA, OMAR, Chat
from tests.test_status_scale import counted_queries

PUBLIC = "https://coach.example.com"
DASHBOARD_CONFIG = f"dashboard: {{listen: '127.0.0.1:0', public_url: '{PUBLIC}'}}\n" + CONFIG
LINK = re.compile(re.escape(PUBLIC) + r"(/dashboard/open\?t=[A-Za-z0-9_-]+)")


class Browser:
    """One browser: keeps the dashboard cookie it was given and sends it back, as a browser would over https."""

    def __init__(self, http: ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.cookie: str | None = None
        self.set_cookie: SimpleCookie = SimpleCookie()

    async def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        async with self.http.get(self.base + path, headers=self._headers(), allow_redirects=False) as response:
            return response.status, await response.text(), dict(response.headers)

    async def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(
            self.base + path, data=form, headers=self._headers(), allow_redirects=False
        ) as response:
            if "Set-Cookie" in response.headers:
                self.set_cookie = SimpleCookie(response.headers["Set-Cookie"])
                self.cookie = self.set_cookie["checkin_dashboard"].value
            return response.status, await response.text()

    async def sign_in(self, link: str) -> int:
        token = link.split("t=", 1)[1]
        status, _ = await self.post("/dashboard/open", {"t": token})
        return status

    async def csrf(self, path: str = "/dashboard/") -> str:
        _, html, _ = await self.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None, html
        return found[1]

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"checkin_dashboard={self.cookie}"} if self.cookie else {}


class Practice:
    def __init__(self, runtime: Bot, chat: Chat, http: ClientSession, base: str, clock: ManualClock) -> None:
        self.runtime, self.chat, self.http, self.base, self.clock = runtime, chat, http, base, clock
        #: The monotonic seconds the page-load pace counts in, moved by hand.
        self.pace_seconds = 0.0

    def browser(self) -> Browser:
        return Browser(self.http, self.base)

    async def link(self, sender: str = MAYA) -> str:
        [reply] = await self.chat.say(sender, "dashboard")
        found = LINK.search(reply.text)
        assert found is not None, reply.text
        return found[1]

    async def signed_in(self, sender: str = MAYA) -> Browser:
        browser = self.browser()
        assert await browser.sign_in(await self.link(sender)) == 303
        return browser

    async def alert(self, client: str, address: str) -> Alert:
        await self.runtime.lifecycle.start_checkin(client, self.clock.now() - timedelta(days=1))
        for reply in LOW_TRUST:
            await self.chat.say(address, reply)
        async with self.runtime.database.session() as session:
            return (await session.scalars(select(Alert).where(Alert.client_id == client))).one()


@pytest.fixture
async def practice(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[Practice]:
    path = tmp_path / "config.yaml"
    path.write_text(DASHBOARD_CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    pace: list[Practice] = []
    dashboard = Dashboard(
        database=runtime.database,
        setup=runtime.setup,
        clock=clock,
        secure=True,
        wake_outbox=runtime.outbox.wake,
        pace_clock=lambda: pace[0].pace_seconds,
    )
    app = web.Application()
    dashboard.mount(app)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ClientSession(cookie_jar=DummyCookieJar()) as http:
            pace.append(Practice(runtime, Chat(runtime, slack), http, str(server.make_url("")).rstrip("/"), clock))
            yield pace[0]
    finally:
        await server.close()
        await runtime.stop()


# ---- the link and the session ----------------------------------------------------------------------------


async def test_a_link_signs_in_once_with_a_strict_http_only_secure_cookie(practice: Practice) -> None:
    link = await practice.link()
    browser = practice.browser()
    status, html, _ = await browser.get(link)
    assert status == 200 and "Open the dashboard" in html  # opening the link (a chat preview) spends nothing
    assert await browser.sign_in(link) == 303
    morsel = browser.set_cookie["checkin_dashboard"]
    assert morsel["httponly"] is True and morsel["secure"] is True
    assert morsel["samesite"] == "Strict" and morsel["path"] == "/dashboard"
    assert morsel["max-age"] == str(12 * 3600)
    assert (await browser.get("/dashboard/"))[0] == 200
    assert await practice.browser().sign_in(link) == 403  # used


async def test_a_link_expires_after_ten_minutes(practice: Practice) -> None:
    fresh, stale = await practice.link(), await practice.link()
    practice.clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert await practice.browser().sign_in(fresh) == 303
    practice.clock.advance(timedelta(seconds=1))
    status, html = await practice.browser().post("/dashboard/open", {"t": stale.split("t=", 1)[1]})
    assert status == 403 and "works once, for 10 minutes" in html


async def test_an_unknown_token_is_refused(practice: Practice) -> None:
    assert await practice.browser().sign_in("/dashboard/open?t=" + "A" * 43) == 403
    assert (await practice.browser().post("/dashboard/open", {}))[0] == 403


async def test_only_hashes_of_tokens_are_stored(practice: Practice) -> None:
    link = await practice.link()
    token = link.split("t=", 1)[1]
    browser = practice.browser()
    await browser.sign_in(link)
    async with practice.runtime.database.session() as session:
        [stored] = (await session.scalars(select(DashboardLink))).all()
        [signed_in] = (await session.scalars(select(DashboardSession))).all()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert browser.cookie is not None
    assert signed_in.id_hash == hashlib.sha256(browser.cookie.encode()).hexdigest() != browser.cookie
    assert (stored.coach_id, signed_in.coach_id) == ("maya", "maya")


async def test_a_session_ends_after_twelve_hours_idle_and_use_keeps_it(practice: Practice) -> None:
    browser = await practice.signed_in()
    for _ in range(3):  # 33 hours in all, never 12 idle
        practice.clock.advance(timedelta(hours=11))
        assert (await browser.get("/dashboard/"))[0] == 200
    practice.clock.advance(timedelta(hours=12))
    status, html, _ = await browser.get("/dashboard/")
    assert status == 401 and "Please sign in" in html


async def test_without_a_cookie_nothing_is_shown(practice: Practice) -> None:
    browser = practice.browser()
    for path in ("/dashboard/", "/dashboard/alerts", "/dashboard/clients/dana"):
        status, html, _ = await browser.get(path)
        assert status == 401 and "Dana" not in html
    status, _, headers = await browser.get("/dashboard")
    assert (status, headers["Location"]) == (303, "/dashboard/")
    browser.cookie = "forged"
    assert (await browser.get("/dashboard/"))[0] == 401


async def test_signing_out_ends_the_session(practice: Practice) -> None:
    browser = await practice.signed_in()
    assert (await browser.post("/dashboard/sign-out", {"csrf": await browser.csrf()}))[0] == 303
    assert (await browser.get("/dashboard/"))[0] == 401


async def test_without_a_dashboard_in_config_the_command_says_so(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    try:
        [reply] = await Chat(runtime, slack).say(MAYA, "dashboard")
    finally:
        await runtime.stop()
    assert reply.text.startswith("The dashboard is not set up") and "http" not in reply.text


# ---- who sees what -----------------------------------------------------------------------------------------


async def test_a_coach_sees_only_their_own_clients(practice: Practice) -> None:
    await practice.alert("omar", OMAR)
    maya = await practice.signed_in()
    _, html, headers = await maya.get("/dashboard/")
    assert "Dana Whitfield" in html and "Omar" not in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, html, _ = await maya.get("/dashboard/clients/omar")
    assert status == 404 and "Omar" not in html
    assert (await maya.get("/dashboard/clients/nobody"))[0] == 404
    _, html, _ = await maya.get("/dashboard/alerts")
    assert "Omar" not in html and "No alerts." in html


async def test_the_admin_link_sees_every_client_and_cannot_act(practice: Practice) -> None:
    alert = await practice.alert("omar", OMAR)
    async with practice.runtime.database.transaction() as session:
        link = await issue_link(session, None, PUBLIC, practice.clock.now())
    admin = practice.browser()
    assert await admin.sign_in(link.removeprefix(PUBLIC)) == 303
    _, html, _ = await admin.get("/dashboard/")
    assert "Dana Whitfield" in html and "Omar Haddad" in html and "read-only" in html
    status, html, _ = await admin.get("/dashboard/clients/omar")
    assert status == 200 and "Acknowledge</button>" not in html
    csrf = await admin.csrf()
    assert (await admin.post(f"/dashboard/alerts/{alert.id}/ack", {"csrf": csrf}))[0] == 403
    assert (await admin.post("/dashboard/clients/omar/pause", {"csrf": csrf}))[0] == 403
    async with practice.runtime.database.session() as session:
        assert (await session.get(Alert, alert.id)).acknowledged_at is None  # type: ignore[union-attr]
        assert (await session.get(Client, "omar")).paused_until is None  # type: ignore[union-attr]


# ---- pages and actions -------------------------------------------------------------------------------------


def _dana_sparklines(html: str) -> str:
    """The five sparklines of Dana's row on the practice page."""
    row = re.search(r"<tr[^>]*>\s*<td><a href=\"/dashboard/clients/dana\">.*?</tr>", html, re.S)
    assert row is not None, html
    return "".join(re.findall(r'<svg class="spark".*?</svg>', row[0]))


async def test_a_practice_row_is_redrawn_when_a_checkin_lands_and_kept_until_then(practice: Practice) -> None:
    maya = await practice.signed_in()
    before = _dana_sparklines((await maya.get("/dashboard/"))[1])
    assert 'aria-label="Trust"' in before and "<polyline" not in before  # no check-in yet
    await practice.alert("dana", DANA)  # a check-in answered with trust at 1
    one = _dana_sparklines((await maya.get("/dashboard/"))[1])
    assert 'aria-label="Trust: 1"' in one and "<circle" in one and "<polyline" not in one
    with counted_queries(practice.runtime.database) as statements:
        assert _dana_sparklines((await maya.get("/dashboard/"))[1]) == one
    assert statements and not [q for q in statements if "answers" in q]  # drawn once, then kept unread
    await practice.runtime.lifecycle.start_checkin("dana", practice.clock.now() - timedelta(hours=1))
    assert _dana_sparklines((await maya.get("/dashboard/"))[1]) == one  # an open check-in is no history yet
    for reply in ["4", "4", "4", "5", "4", "4", "Better", "Thanks"]:
        await practice.chat.say(DANA, reply)
    two = _dana_sparklines((await maya.get("/dashboard/"))[1])
    assert 'aria-label="Trust: 5"' in two and "<polyline" in two


async def test_a_browser_loading_pages_in_a_loop_is_paced_and_others_are_not(practice: Practice) -> None:
    maya, leo = await practice.signed_in(), await practice.signed_in(LEO)
    statuses = [(await maya.get("/dashboard/"))[0] for _ in range(SESSION_PACE.burst + 1)]
    assert statuses == [200] * SESSION_PACE.burst + [429]
    status, html, headers = await maya.get("/dashboard/alerts")
    assert status == 429 and "Too many pages at once" in html and "<form" not in html
    assert headers["Retry-After"] == "1" and "default-src 'none'" in headers["Content-Security-Policy"]
    assert (await leo.get("/dashboard/"))[0] == 200  # another coach's session has its own pace
    practice.pace_seconds += 1 / SESSION_PACE.per_second
    assert [(await maya.get("/dashboard/"))[0] for _ in range(2)] == [200, 429]


async def test_the_sign_in_pages_are_paced_per_address(practice: Practice) -> None:
    browser = practice.browser()
    statuses = [(await browser.get("/dashboard/open?t=x"))[0] for _ in range(ADDRESS_PACE.burst + 1)]
    assert statuses == [200] * ADDRESS_PACE.burst + [429]
    assert (await browser.post("/dashboard/open", {"t": "x"}))[0] == 429  # the link is not even looked at
    practice.pace_seconds += 1 / ADDRESS_PACE.per_second
    assert (await browser.post("/dashboard/open", {"t": "x"}))[0] == 403


async def test_a_client_page_shows_trend_checkins_and_alerts_escaped(practice: Practice) -> None:
    await practice.runtime.lifecycle.start_checkin("dana", practice.clock.now() - timedelta(days=1))
    for reply in ["4", "4", "4", "1", "4", "4", "<script>alert(1)</script> & more", "Thanks"]:
        await practice.chat.say(DANA, reply)
    maya = await practice.signed_in()
    status, html, _ = await maya.get("/dashboard/clients/dana")
    assert status == 200
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert '<svg class="trend"' in html and 'class="alert-mark"' in html
    assert "urgent" in html and "Acknowledge</button>" in html
    assert "Check-in " in html  # the next scheduled one


async def test_a_client_page_is_kept_until_an_alert_or_a_checkin_moves_and_each_session_gets_its_token(
    practice: Practice,
) -> None:
    alert = await practice.alert("dana", DANA)
    maya, again = await practice.signed_in(), await practice.signed_in()
    first = (await maya.get("/dashboard/clients/dana"))[1]
    assert "Acknowledge</button>" in first and first.count('<article class="checkin">') == 1
    with counted_queries(practice.runtime.database) as statements:
        assert (await maya.get("/dashboard/clients/dana"))[1] == first
    assert statements and not [q for q in statements if "answers" in q]  # drawn once, then kept unread
    kept = (await again.get("/dashboard/clients/dana"))[1]  # the same page, in another session's forms
    assert kept == first.replace(await maya.csrf(), await again.csrf()) and kept != first
    await maya.post(f"/dashboard/alerts/{alert.id}/ack", {"csrf": await maya.csrf()})
    acknowledged = (await maya.get("/dashboard/clients/dana"))[1]
    assert "Acknowledge</button>" not in acknowledged and "· acknowledged" in acknowledged
    await practice.runtime.lifecycle.start_checkin("dana", practice.clock.now() - timedelta(hours=1))
    for reply in ["4", "4", "4", "5", "4", "4", "Better", "Thanks"]:
        await practice.chat.say(DANA, reply)
    assert (await maya.get("/dashboard/clients/dana"))[1].count('<article class="checkin">') == 2


async def test_acknowledge_needs_this_sessions_csrf_token_and_runs_the_desk(practice: Practice) -> None:
    alert = await practice.alert("dana", DANA)
    maya = await practice.signed_in()
    other = await practice.signed_in()
    path = f"/dashboard/alerts/{alert.id}/ack"
    assert (await maya.post(path, {}))[0] == 403
    assert (await maya.post(path, {"csrf": await other.csrf()}))[0] == 403
    async with practice.runtime.database.session() as session:
        assert (await session.get(Alert, alert.id)).acknowledged_at is None  # type: ignore[union-attr]
    status, html = await maya.post(path, {"csrf": await maya.csrf(), "back": "/dashboard/clients/dana"})
    assert status == 200 and "Acknowledged 1 alert" in html and 'href="/dashboard/clients/dana"' in html
    async with practice.runtime.database.session() as session:
        acknowledged = await session.get(Alert, alert.id)
    assert acknowledged is not None and acknowledged.acknowledged_by == "coach:maya"


async def test_another_coachs_alert_and_client_cannot_be_acted_on(practice: Practice) -> None:
    alert = await practice.alert("omar", OMAR)
    maya = await practice.signed_in()
    csrf = await maya.csrf()
    _, html = await maya.post(f"/dashboard/alerts/{alert.id}/ack", {"csrf": csrf})
    assert "nothing to acknowledge" in html.casefold() or "no open alerts" in html.casefold()
    _, html = await maya.post("/dashboard/clients/omar/checkin", {"csrf": csrf})
    assert "None of your clients" in html
    async with practice.runtime.database.session() as session:
        assert (await session.get(Alert, alert.id)).acknowledged_at is None  # type: ignore[union-attr]


async def test_send_a_checkin_and_pause_from_the_client_page(practice: Practice) -> None:
    maya = await practice.signed_in()
    csrf = await maya.csrf()
    status, html = await maya.post("/dashboard/clients/dana/checkin", {"csrf": csrf, "back": "https://evil.example/"})
    assert status == 200 and 'href="/dashboard/"' in html
    await practice.runtime.outbox.drain()
    async with practice.runtime.database.session() as session:
        assert len((await session.scalars(select(CheckIn).where(CheckIn.client_id == "dana"))).all()) == 1
    await maya.post("/dashboard/clients/dana/pause", {"csrf": csrf})
    async with practice.runtime.database.session() as session:
        paused = await session.get(Client, "dana")
    assert paused is not None and paused.paused_until == practice.clock.now() + timedelta(weeks=2)
    _, html, _ = await maya.get("/dashboard/")
    assert "paused until" in html


# ---- the admin's link from the command line ------------------------------------------------------------------


async def test_the_admin_command_prints_a_read_only_link(cli_database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    body = f'database: {{url: "{cli_database_url}"}}\n' + CONFIG
    config.write_text(body, encoding="utf-8")
    refused = await asyncio.to_thread(checkin, "dashboard-link", "--admin", "-c", str(config))
    assert refused.exit_code != 0 and "not configured" in refused.stderr
    config.write_text(f"dashboard: {{public_url: '{PUBLIC}'}}\n" + body, encoding="utf-8")
    neither = await asyncio.to_thread(checkin, "dashboard-link", "-c", str(config))
    assert neither.exit_code != 0 and "either --admin or a coach" in neither.stderr
    unknown = await asyncio.to_thread(checkin, "dashboard-link", "mya", "-c", str(config))
    assert unknown.exit_code != 0 and "did you mean 'maya'" in unknown.stderr.casefold()
    printed = await asyncio.to_thread(checkin, "dashboard-link", "--admin", "-c", str(config))
    assert printed.exit_code == 0, printed.stderr
    assert LINK.fullmatch(printed.stdout.strip()) and "read-only" in printed.stderr
    database = Database(cli_database_url)
    await database.start()
    try:
        access = Access(database, SystemClock())
        cookie = await access.sign_in(printed.stdout.strip().split("t=", 1)[1])
        assert cookie is not None
        viewer = await access.viewer(cookie)
        assert viewer is not None and viewer.read_only
    finally:
        await database.stop()


# ---- the servers `checkin run` starts ----------------------------------------------------------------------


async def test_a_dashboard_on_its_own_address_answers_health_but_not_metrics(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("observability: {http: {port: 0}}\n" + DASHBOARD_CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    metrics_server, dashboard_server = web_servers(runtime, clock, lambda: True)
    for server in (metrics_server, dashboard_server):
        await server.start()
    try:
        async with ClientSession() as http:

            async def status(server: ObservabilityServer, path: str) -> int:
                async with http.get(f"http://127.0.0.1:{server.port}{path}", allow_redirects=False) as response:
                    return response.status

            assert [await status(dashboard_server, p) for p in ("/healthz", "/metrics", "/dashboard/")] == [
                200,
                404,
                401,
            ]
            assert [await status(metrics_server, p) for p in ("/healthz", "/metrics", "/dashboard/")] == [200, 200, 404]
    finally:
        for server in (metrics_server, dashboard_server):
            await server.stop()
        await runtime.stop()


# ---- reading beside a writer ---------------------------------------------------------------------------------


async def test_a_page_reads_while_another_transaction_holds_the_write_lock(database: Database) -> None:
    """Pages read in ``Database.reading``: on SQLite that does not wait for the write lock (a page load behind
    a writer would otherwise wait out the busy timeout and fail), and it sees only what was committed."""
    now = SLOT
    async with database.transaction() as writer:
        await writer.execute(insert(DashboardLink).values(token_hash="h", created_at=now, expires_at=now))
        async with database.reading() as reader:
            assert (await reader.scalars(select(DashboardLink.token_hash))).all() == []
    async with database.reading() as reader:
        assert (await reader.scalars(select(DashboardLink.token_hash))).all() == ["h"]


async def test_a_coach_removed_from_the_config_is_signed_out(practice: Practice, tmp_path: Path) -> None:
    maya = await practice.signed_in()
    without_leo = DASHBOARD_CONFIG.replace(
        "  - {id: leo, name: Leo Park, timezone: America/New_York, slack: {user_id: U0LEO00001}}\n", ""
    )
    assert without_leo != DASHBOARD_CONFIG
    leo = await practice.signed_in(LEO)
    path = tmp_path / "without-leo.yaml"
    path.write_text(without_leo.replace("coach: leo", "coach: maya"), encoding="utf-8")
    config = load_config(path)
    await practice.runtime.reconfigure(config, load_question_sets(config, path))
    assert (await leo.get("/dashboard/"))[0] == 401
    assert (await maya.get("/dashboard/"))[0] == 200
