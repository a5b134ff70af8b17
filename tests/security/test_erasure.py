"""Erasure and stop are keyed on the person, not on the text of an address (issue 15, item 2).

A Slack client configured by e-mail is written to at ``email:<address>`` but answered at the Slack user id their
replies come from; ``forget`` and ``stop`` must reach both. ``forget`` also removes the coach's queued digest
that quotes the client and the inbound event ids of what they wrote, and an id is never a pattern: forgetting
``a_b`` leaves ``axb`` alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from bot.app.builder import Bot
from bot.contract.adapter import SendError
from bot.contract.messages import InboundText
from bot.store import Database, admin, alembic_config, outbox
from bot.store.models import OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for
from tests.test_digest import MONDAY

DANA_ID = "U0DANA0001"
DANA_EMAIL = "dana@example.com"
CONFIG = f"""
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  daily: {{every: 1d, at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: Europe/London, slack: {{user_id: U0MAYA0001}}}}
clients:
  - {{id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: daily, slack: {{email: {DANA_EMAIL}}}}}
  - {{id: a_b, name: Ann Bell, coach: maya, timezone: UTC, cadence: daily, slack: {{user_id: U0ANNB0001}}}}
  - {{id: axb, name: Axel Brandt, coach: maya, timezone: UTC, cadence: daily, slack: {{user_id: U0AXEL0001}}}}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY - timedelta(days=3))


@pytest.fixture
async def runtime(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[Bot]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    yield runtime
    await runtime.stop()


async def dana_says(runtime: Bot, text: str, key: str) -> None:
    """Dana writes from her Slack user id; the adapter tells the core her profile's e-mail."""
    await runtime.inbound.handle(InboundText("slack", DANA_ID, key, text, sender_email=DANA_EMAIL))


async def outbox_rows(runtime: Bot) -> list[OutboxMessage]:
    async with runtime.database.session() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def forget(runtime: Bot, client_id: str, *, keep_client: bool = True) -> admin.Erased:
    async with runtime.database.transaction() as session:
        return await admin.forget_client(session, client_id, keep_client=keep_client)


async def test_forget_removes_every_message_to_and_about_a_client_configured_by_email(
    runtime: Bot, clock: ManualClock
) -> None:
    assert await runtime.lifecycle.start_checkin("dana", MONDAY - timedelta(days=3)) is not None
    await dana_says(runtime, "4", "ev-dana-1")  # answered at her user id, not at the e-mail address
    await dana_says(runtime, "skip all", "ev-dana-2")
    clock.set(MONDAY + timedelta(minutes=5))
    assert await runtime.housekeeping.send_due_digests() == 1  # queued, quoting Dana, not sent yet
    before = await outbox_rows(runtime)
    assert any(r.recipient == DANA_ID for r in before)
    assert any(r.recipient == f"email:{DANA_EMAIL}" for r in before)
    assert any("Dana" in r.payload["text"] for r in before if r.recipient == "U0MAYA0001")

    await forget(runtime, "dana")

    left = await outbox_rows(runtime)
    assert [r.idempotency_key for r in left if r.recipient in (DANA_ID, f"email:{DANA_EMAIL}")] == []
    assert [r.idempotency_key for r in left if "Dana" in r.payload["text"]] == []
    async with runtime.database.session() as session:
        events = (await session.scalars(select(ProcessedEvent.event_key))).all()
    assert [key for key in events if key.startswith("ev-dana")] == []


async def test_a_digest_forgotten_with_its_client_is_composed_again_without_them(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    clock.set(MONDAY + timedelta(minutes=5))
    assert await runtime.housekeeping.send_due_digests() == 1
    await forget(runtime, "dana", keep_client=False)  # as for a client already taken out of the config
    assert await runtime.housekeeping.send_due_digests() == 1  # the other clients' digest still goes
    await runtime.outbox.drain()
    [digest] = [m for m in slack.to("U0MAYA0001") if m.text.startswith("Weekly digest")]
    assert "Dana" not in digest.text
    assert "Axel Brandt" in digest.text


async def test_stop_cancels_what_was_queued_to_the_user_id_of_a_client_configured_by_email(
    runtime: Bot, slack: CollectingAdapter, clock: ManualClock
) -> None:
    assert await runtime.lifecycle.start_checkin("dana", MONDAY - timedelta(days=3)) is not None
    await runtime.outbox.drain()
    slack.failures.append(SendError("rate limited", retry_after=60))
    await dana_says(runtime, "4", "ev-dana-1")
    await runtime.outbox.drain()  # the reply to her answer is refused once and waits for its retry
    assert slack.to(DANA_ID) == []
    clock.advance(timedelta(seconds=10))
    await dana_says(runtime, "stop", "ev-dana-stop")
    clock.advance(timedelta(minutes=5))
    await runtime.outbox.drain()
    [confirmation] = slack.to(DANA_ID)
    assert confirmation.text.startswith("Done: you will get no more check-ins.")
    answered = [r for r in await outbox_rows(runtime) if r.idempotency_key.startswith("reply:slack:ev-dana-1:")]
    assert answered and all((r.status, r.last_error) == ("cancelled", outbox.OPTED_OUT) for r in answered)


async def test_forgetting_a_b_leaves_axb_alone(runtime: Bot) -> None:
    """``_`` is a LIKE wildcard: an erasure that built a pattern from ``a_b`` matched ``axb``'s rows too."""
    await runtime.inbound.handle(InboundText("slack", "U0AXEL0001", "ev-axel-stop", "stop"))
    await runtime.inbound.handle(InboundText("slack", "U0ANNB0001", "ev-ann-stop", "stop"))
    axel = [
        r.idempotency_key
        for r in await outbox_rows(runtime)
        if "Axel" in r.payload["text"] or r.recipient == "U0AXEL0001"
    ]
    assert any(key.startswith("stopped:axb:") for key in axel)

    await forget(runtime, "a_b")

    left = [r.idempotency_key for r in await outbox_rows(runtime)]
    assert [key for key in axel if key not in left] == []
    assert [key for key in left if key.startswith("stopped:a_b:")] == []


async def test_migration_names_the_person_of_existing_outbox_rows_where_it_can(database: Database) -> None:
    """0007 backfills the person of rows queued before it from the payload's audience and the identities; its
    downgrade drops the columns in place, so no check-in or answer goes with them on SQLite."""
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005"))
        statements = [
            "INSERT INTO coaches (id, name, timezone, digest, active, updated_at) "
            "VALUES ('maya', 'Maya', 'UTC', 'weekly', true, CURRENT_TIMESTAMP)",
            *(
                "INSERT INTO clients (id, name, coach_id, timezone, cadence, question_set, language, platform, "
                f"active, created_at, updated_at) VALUES ('{c}', '{c}', 'maya', 'UTC', 'weekly', 'default', 'en', "
                "'slack', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                for c in ("dana", "ben")
            ),
            "INSERT INTO identities (person_kind, person_id, platform, kind, value) VALUES "
            "('client', 'dana', 'slack', 'email', 'Dana@Example.com'), "
            "('client', 'ben', 'telegram', 'chat_id', '-100123'), ('coach', 'maya', 'slack', 'user_id', 'UMAYA')",
            "INSERT INTO checkins (client_id, slot, status, question_set, created_at, reminders_sent) "
            "VALUES ('dana', CURRENT_TIMESTAMP, 'completed', 'default', CURRENT_TIMESTAMP, 0)",
            "INSERT INTO answers (checkin_id, step_key, question_id, dimension, text, answered_at) "
            "SELECT id, 'note', 'note', 'note', 'kept', CURRENT_TIMESTAMP FROM checkins",
        ]
        for n, (platform, recipient, audience) in enumerate(
            [
                ("slack", "email:dana@example.com", "client"),
                ("telegram", "-100123", "client"),
                ("slack", "UMAYA", "coach"),
                ("slack", "UOTHER", "client"),
                ("console", "dana", "client"),
            ]
        ):
            statements.append(
                "INSERT INTO outbox (platform, recipient, payload, idempotency_key, status, attempts, "
                f"next_attempt_at, created_at) VALUES ('{platform}', '{recipient}', "
                f'\'{{"text": "hi", "audience": "{audience}"}}\', \'k{n}\', \'sent\', 1, CURRENT_TIMESTAMP, '
                "CURRENT_TIMESTAMP)"
            )
        for statement in statements:
            await conn.execute(sa.text(statement))
    await database.upgrade()
    async with database.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT idempotency_key, person_kind, person_id FROM outbox"))
        assert sorted(tuple(row) for row in rows) == [
            ("k0", "client", "dana"),
            ("k1", "client", "ben"),
            ("k2", "coach", "maya"),
            ("k3", None, None),
            ("k4", "client", "dana"),
        ]
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005"))
        assert (await conn.execute(sa.text("SELECT text FROM answers"))).scalars().all() == ["kept"]
        assert len((await conn.execute(sa.text("SELECT id FROM outbox"))).all()) == 5
