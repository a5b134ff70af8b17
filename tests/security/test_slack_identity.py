"""Issue 15, item 6: a Slack sender is recognised only as a member of the bot's workspace, by a confirmed e-mail.

Reproduced before the fix: a user of another workspace (a Slack Connect DM) whose profile e-mail equalled a
coach's was treated as the coach (they got the coach's client list), and the address they claimed was cached
for the coach, so the coach's own messages went to them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from bot.app.builder import Bot
from bot.contract.messages import OutboundMessage
from bot.store import Database
from bot.store.models import OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import runtime_for
from tests.fakes.fake_platform import Rate
from tests.fakes.fake_slack import FakeSlack
from tests.support.practice import SLOT, write_config
from tests.test_slack import CONFIG, MAYA, count, eventually, workspace

pytestmark = pytest.mark.integration

#: Maya is known by her e-mail address, as many practices configure coaches.
BY_EMAIL = CONFIG.replace("slack: {user_id: U0MAYA0001}", "slack: {email: maya@example.com}")
OTHER_TEAM = "T0OTHER001"
IMPOSTOR = "U0EVE00001"


@dataclass
class Slack:
    fake: FakeSlack
    adapter: SlackAdapter
    runtime: Bot
    database: Database

    async def say(self, user: str, text: str) -> None:
        await self.fake.wait_acked(self.fake.push("events_api", self.fake.message_event(user, text)))


@pytest.fixture
async def slack(database_target: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Slack]:
    async with FakeSlack(per_channel_rate=Rate(1.0, burst=50)) as fake:
        workspace(fake)
        adapter = SlackAdapter(fake.bot_token, app_token=fake.app_token, api_url=fake.api_url)
        database = database_target.create()
        runtime = runtime_for(write_config(tmp_path, BY_EMAIL), database, ManualClock(SLOT), {"slack": adapter})
        await runtime.start()
        try:
            await fake.wait_connected()
            yield Slack(fake, adapter, runtime, database)
        finally:
            await runtime.stop()


async def test_a_user_of_another_workspace_with_the_coachs_email_is_ignored(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.add_user(IMPOSTOR, "maya@example.com", "Not Maya", team_id=OTHER_TEAM)
    caplog.set_level(logging.INFO, logger="adapters.slack")
    await slack.say(IMPOSTOR, "clients")

    async def ignored() -> bool:
        return any("of another workspace ignored" in r.getMessage() for r in caplog.records)

    await eventually(ignored)
    await slack.runtime.outbox.drain()
    assert slack.fake.sent_to(IMPOSTOR) == []
    assert await count(slack.database, ProcessedEvent) == 0
    assert await count(slack.database, OutboxMessage) == 0

    # What the bot sends Maya by her address still reaches Maya, not the user who claimed it.
    await slack.adapter.send(OutboundMessage("slack", "email:maya@example.com", "For Maya", audience="coach"))
    assert [m.text for m in slack.fake.sent_to(MAYA)] == ["For Maya"]
    assert slack.fake.sent_to(IMPOSTOR) == []


async def test_an_unconfirmed_email_does_not_make_a_member_the_coach(slack: Slack) -> None:
    slack.fake.add_user(IMPOSTOR, "maya@example.com", "Not Maya", email_confirmed=False)
    await slack.say(IMPOSTOR, "clients")

    async def answered() -> bool:
        return bool(slack.fake.sent_to(IMPOSTOR))

    await eventually(answered)
    [reply] = slack.fake.sent_to(IMPOSTOR)
    assert "I don't have you on my list" in reply.text
    assert await count(slack.database, ProcessedEvent) == 0


async def test_the_coach_with_a_confirmed_email_is_recognised(slack: Slack) -> None:
    await slack.say(MAYA, "clients")

    async def answered() -> bool:
        await slack.runtime.outbox.drain()
        return bool(slack.fake.sent_to(MAYA))

    await eventually(answered)
    assert "Dana Whitfield" in slack.fake.sent_to(MAYA)[0].text
