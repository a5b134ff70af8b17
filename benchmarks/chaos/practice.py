"""The practice the chaos runs serve: many clients of one coach, all due at once, on Telegram or Slack.

Every client's check-in slot is two minutes in the past when the bot starts, and they were added an hour
before it, so the catch-up on start claims every check-in at once (the heaviest moment for claims and the
outbox). The check-in is a short question set of its own (two buttons and a note), so hundreds of check-ins fit
in a few minutes. Telegram chats are bound to the clients in the database, as a redeemed invite would bind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from bot.contract.statuses import PersonKind
from bot.store import Database
from bot.store.identities import bind_telegram_chat
from bot.timing.clock import ManualClock
from tests.fakes import runtime_for
from tests.fakes.fake_slack import APP_TOKEN, BOT_TOKEN

Mode = Literal["polling", "webhook", "socket"]

#: A text the scripted clients recognise as the note question (no buttons: they type their answer).
NOTE_MARK = "(chaos note)"
COACH_CHAT = 90_000
COACH_SLACK = "U0COACH001"
WEBHOOK_SECRET = "chaos-webhook-secret"
TELEGRAM_TOKEN = "123456:CHAOS"

QUESTION_SET = f"""\
id: chaos
name: Chaos check-in
language: en
questions:
  - id: hope
    kind: scale
    dimension: hope
    text: "How hopeful do you feel right now about reaching your goals?"
    scale:
      labels: {{1: "Not at all", 5: "Very hopeful"}}
  - id: trust
    kind: scale
    dimension: trust
    text: "How freely can you talk with your coach about what really matters?"
    scale:
      labels: {{1: "Not freely", 5: "Completely freely"}}
  - id: note
    kind: text
    dimension: note
    optional: true
    text: "Anything your coach should know? {NOTE_MARK}"
"""


@dataclass(frozen=True, slots=True)
class Practice:
    """Who is in the practice and how the bot reaches them."""

    clients: int
    mode: Mode

    @property
    def platform(self) -> str:
        return "slack" if self.mode == "socket" else "telegram"

    def client_ids(self) -> list[str]:
        return [f"c{n:04d}" for n in range(self.clients)]

    def address(self, client: str) -> str:
        """The client's chat (Telegram) or Slack user id."""
        number = int(client[1:])
        return f"U0C{number:07d}" if self.platform == "slack" else str(100_000 + number)

    def addresses(self) -> list[str]:
        return [self.address(client) for client in self.client_ids()]


def config_text(
    practice: Practice,
    *,
    database_url: str,
    api_url: str,
    slot: datetime,
    spool: Path,
    lease: str = "5s",
    give_up_after: str = "30m",
) -> str:
    """The config.yaml of one run; the platform's API is the fake's, the database URL may be the proxy's."""

    def identity(client: str) -> str:
        return f"slack: {{user_id: {practice.address(client)}}}" if practice.platform == "slack" else "telegram: {}"

    clients = "".join(
        f"  - {{id: {client}, name: Client {client}, coach: maya, timezone: UTC, cadence: daily,"
        f" question_set: chaos, {identity(client)}}}\n"
        for client in practice.client_ids()
    )
    if practice.platform == "slack":
        platform = (
            f'  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}", api_url: "{api_url}"}}\n'
        )
        coach = f"{{user_id: {COACH_SLACK}}}"
        coach_key = "slack"
    else:
        webhook = (
            ', webhook: {url: "http://127.0.0.1/telegram", listen: 127.0.0.1, port: 0,'
            ' secret_token: "${TELEGRAM_WEBHOOK_SECRET}"}'
            if practice.mode == "webhook"
            else ""
        )
        platform = f'  telegram: {{bot_token: "${{TELEGRAM_BOT_TOKEN}}", api_url: "{api_url}"{webhook}}}\n'
        coach, coach_key = "{}", "telegram"
    return (
        f"database: {{url: '{database_url}'}}\n"
        "scheduling: {sweep_interval: 5s}\n"
        f"inbound: {{spool: '{spool}'}}\n"
        f"outbox: {{lease: {lease}, give_up_after: {give_up_after},"
        " rate_limits: {telegram: {per_recipient_burst: 50}, slack: {per_recipient_burst: 50}}}\n"
        "question_sets: {chaos: chaos.yaml}\n"
        "platforms:\n" + platform + f'cadences:\n  daily: {{every: 1d, at: "{slot:%H:%M}"}}\n'
        f"coaches:\n  - {{id: maya, name: Maya Chen, timezone: UTC, {coach_key}: {coach}}}\n"
        "clients:\n" + clients
    )


def environment(base: dict[str, str]) -> dict[str, str]:
    """The secrets the config names, the fakes' own."""
    return base | {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }


def due_slot(now: datetime | None = None) -> datetime:
    """A slot two minutes ago: due at once, well inside the catch-up grace."""
    return ((now or datetime.now(UTC)) - timedelta(minutes=2)).replace(second=0, microsecond=0)


def write_practice(directory: Path, practice: Practice, **config: object) -> Path:
    (directory / "chaos.yaml").write_text(QUESTION_SET, encoding="utf-8")
    path = directory / "config.yaml"
    path.write_text(config_text(practice, spool=directory / "spool", **config), encoding="utf-8")  # type: ignore[arg-type]
    return path


async def seed(config_path: Path, database_url: str, practice: Practice, slot: datetime) -> None:
    """The people in the database as if added an hour before the slot; Telegram chats bound as by invites."""
    database = Database(database_url)
    runtime = runtime_for(config_path, database, ManualClock(slot - timedelta(hours=1)), {}, worker_id="seed")
    await runtime.start()
    try:
        if practice.platform == "telegram":
            async with database.transaction() as session:
                await bind_telegram_chat(session, PersonKind.COACH, "maya", COACH_CHAT)
                for client in practice.client_ids():
                    await bind_telegram_chat(session, PersonKind.CLIENT, client, int(practice.address(client)))
    finally:
        await runtime.stop()


def chats(practice: Practice) -> Sequence[int]:
    return [int(address) for address in practice.addresses()]
