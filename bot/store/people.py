"""Config people -> store records, and where to reach a person.

The store knows nothing of the config models (so either can change without the other); this module is the
one translation between them. Addresses are what the outbox stores: a Slack user id (or ``email:<address>``
until the Slack adapter has resolved it), or a Telegram chat id once an invite has bound it.
"""

from __future__ import annotations

from datetime import datetime, time

from bot.config import Client as ClientConfig
from bot.config import Config
from bot.store import Client, ClientRecord, Coach, CoachRecord, GoalRecord


def people_from_config(config: Config) -> tuple[list[CoachRecord], list[ClientRecord]]:
    coaches = [
        CoachRecord(
            id=c.id,
            name=c.name,
            timezone=c.timezone,
            digest=c.digest,
            slack_user_id=c.slack.user_id if c.slack else None,
            slack_email=c.slack.email if c.slack else None,
        )
        for c in config.coaches
    ]
    return coaches, [_client_record(c) for c in config.clients]


def _client_record(client: ClientConfig) -> ClientRecord:
    paused_until = (
        # A paused-until date means "back on that day" in the client's own time zone.
        datetime.combine(client.paused_until, time.min, client.zone) if client.paused_until else None
    )
    return ClientRecord(
        id=client.id,
        name=client.name,
        coach_id=client.coach,
        timezone=client.timezone,
        cadence=client.cadence,
        question_set=client.question_set,
        language=client.language,
        platform="slack" if client.slack else "telegram",
        slack_user_id=client.slack.user_id if client.slack else None,
        slack_email=client.slack.email if client.slack else None,
        paused_until=paused_until,
        goals=[GoalRecord(g.id, g.title) for g in client.goals if g.active],
    )


def address_of(person: Client | Coach, platform: str | None = None) -> tuple[str, str] | None:
    """The (platform, recipient) to send to, or ``None`` while the person cannot be reached yet."""
    chosen = platform or (person.platform if isinstance(person, Client) else None)
    if chosen in (None, "slack"):
        if person.slack_user_id:
            return ("slack", person.slack_user_id)
        if person.slack_email:
            return ("slack", f"email:{person.slack_email}")
    if chosen in (None, "telegram") and person.telegram_chat_id is not None:
        return ("telegram", str(person.telegram_chat_id))
    return None
