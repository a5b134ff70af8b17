"""The dashboard end to end in a real headless Chromium (Debian's, driven by Playwright), on both databases.

The coach asks for the link in Slack (slack-bolt against the fake Slack on 127.0.0.1), the browser opens it
from the DM, signs in, reads the practice and the client page, presses Acknowledge, and finds that another
coach's client cannot be reached by URL. The pages must run with no script and nothing from elsewhere: any
message Chromium logs (a Content-Security-Policy refusal, a failed load) fails the test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, async_playwright
from sqlalchemy import select

from adapters.slack import SlackAdapter
from bot.app.builder import Bot
from bot.app.web_servers import web_servers
from bot.store.models import Alert
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import FakeSlack
from tests.support.practice import SLOT

pytestmark = pytest.mark.process  # Chromium is a process of its own

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_PRESENT = Path(CHROMIUM).exists()
PUBLIC = "http://dashboard.test"
CONFIG = f"""
dashboard: {{listen: "127.0.0.1:0", public_url: "{PUBLIC}"}}
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  weekly: {{every: 1w, on: [mon], at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: Europe/London, slack: {{user_id: U0MAYA0001}}}}
  - {{id: leo, name: Leo Park, timezone: America/New_York, slack: {{user_id: U0LEO00001}}}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {{user_id: U0DANA0001}}
    goals: [{{id: delegate, title: Delegate the quarterly planning}}]
  - {{id: sam, name: Sam Lee, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {{user_id: U0SAML0001}}}}
  - {{id: omar, name: Omar Haddad, coach: leo, timezone: America/New_York, cadence: weekly,
     slack: {{user_id: U0OMAR0001}}}}
"""
DANA, MAYA = "U0DANA0001", "U0MAYA0001"
LOW_TRUST = ["4", "4", "4", "1", "4", "4", "You cancel too often <b>really</b>", "Thanks"]


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(20.0):
        while not await check():  # noqa: ASYNC110 - the condition is in the fake server
            await asyncio.sleep(0.02)


class SlackPractice:
    def __init__(self, fake: FakeSlack, runtime: Bot) -> None:
        self.fake, self.runtime = fake, runtime

    async def say(self, user: str, text: str) -> str:
        """Type ``text`` in Slack as ``user``; the bot's next DM to them."""
        before = len(self.fake.sent_to(user))
        await self.fake.wait_acked(self.fake.push("events_api", self.fake.message_event(user, text)))

        async def answered() -> bool:
            await self.runtime.outbox.drain()
            return len(self.fake.sent_to(user)) > before

        await eventually(answered)
        return self.fake.sent_to(user)[-1].text


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_PRESENT:
        pytest.fail(f"{CHROMIUM} is missing: `make .venv/.installed` installs Debian's chromium", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def served(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[tuple[SlackPractice, str]]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    clock = ManualClock(SLOT)
    async with FakeSlack(per_channel_rate=Rate(1.0, burst=50)) as fake:
        for user, name in ((DANA, "Dana Whitfield"), (MAYA, "Maya Chen")):
            fake.add_user(user, f"{name.split()[0].lower()}@example.com", name)
        adapter = SlackAdapter(fake.bot_token, app_token=fake.app_token, api_url=fake.api_url)
        runtime = runtime_for(path, database_target.create(), clock, {"slack": adapter})
        await runtime.start()
        [server] = web_servers(runtime, clock, lambda: True)
        await server.start()
        try:
            await fake.wait_connected()
            practice = SlackPractice(fake, runtime)
            await runtime.lifecycle.start_checkin("dana", SLOT - timedelta(days=1))
            for answer in LOW_TRUST:
                await practice.say(DANA, answer)
            yield practice, f"http://127.0.0.1:{server.port}"
        finally:
            await server.stop()
            await runtime.stop()


async def test_a_coach_signs_in_from_slack_reads_the_pages_and_acknowledges(
    served: tuple[SlackPractice, str], browser: Browser
) -> None:
    practice, base = served
    dm = await practice.say(MAYA, "dashboard")
    found = re.search(re.escape(PUBLIC) + r"(/dashboard/open\?t=[\w-]+)", dm)
    assert found is not None, dm
    page = await browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(_said(message)))
    page.on("pageerror", lambda error: problems.append(str(error)))

    await page.goto(base + found[1])
    await page.get_by_role("button", name="Open the dashboard").click()
    await page.wait_for_url(base + "/dashboard/")
    table = page.locator("table.practice")
    assert await table.locator("tbody tr").count() == 2
    first = await table.locator("tbody tr").first.inner_text()
    assert first.startswith("Dana Whitfield")  # the open alert puts her first
    assert "Omar" not in await page.content()
    assert await table.locator("svg.spark").count() == 10  # five practices for each of two clients

    await page.get_by_role("link", name="Dana Whitfield").click()
    await page.wait_for_url(base + "/dashboard/clients/dana")
    assert await page.locator("svg.trend line.alert-mark").count() == 1
    assert "You cancel too often <b>really</b>" in await page.locator("article.checkin").first.inner_text()
    await page.get_by_role("button", name="Acknowledge").click()
    assert "Acknowledged 1 alert" in await page.get_by_role("status").inner_text()
    async with practice.runtime.database.session() as session:
        [alert] = (await session.scalars(select(Alert).where(Alert.client_id == "dana"))).all()
    assert alert.acknowledged_by == "coach:maya"
    await page.get_by_role("link", name="Back").click()
    assert await page.get_by_role("button", name="Acknowledge").count() == 0

    response = await page.goto(base + "/dashboard/clients/omar")
    assert response is not None and response.status == 404
    assert "Omar" not in await page.content()
    assert "No such client" in await page.inner_text("h1")

    reused = await browser.new_page()
    await reused.goto(base + found[1])
    await reused.get_by_role("button", name="Open the dashboard").click()
    assert "cannot be used" in await reused.inner_text("h1")
    assert [p for p in problems if "404" not in p] == []


def _said(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"
