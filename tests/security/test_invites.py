"""Issue 15, item 1: an invite link cannot hijack a chat.

Reproduced before the fix: a coach's older link kept working after a newer one was issued and, opened by a
stranger, re-bound the already-bound coach to the stranger's chat (who then got the coach's client list).
Now a new link revokes the older ones, an open link moves a bound person only when issued with ``--rebind``
(and then the old chat and the coach are told), and the database holds only a hash of each token.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bot.contract.statuses import PersonKind
from bot.store import Database, Session, alembic_config, identities, invites
from bot.store.models import Coach, TelegramInvite
from tests.fakes.fake_telegram import FakeTelegram
from tests.security.test_secrets_printed import telegram_config
from tests.support.practice import SLOT
from tests.test_telegram import (
    DANA_CHAT,
    MAYA_CHAT,
    STRANGER_CHAT,
    Setup,
    bind,
    bot_says,
    checkin_cli,
    eventually,
    setup,  # noqa: F401 - the fixture, used by name
)

pytestmark = pytest.mark.integration

NEW_CHAT = 7007


async def issue(s: Setup, kind: PersonKind, person_id: str, token: str, *, rebind: bool = False) -> None:
    async with s.database.transaction() as session:
        await invites.create_telegram_invite(
            session, token, kind, person_id, s.clock.now() + timedelta(days=7), s.clock.now(), rebind=rebind
        )


async def chat_of(s: Setup, kind: PersonKind, person_id: str) -> int | None:
    async with s.database.session() as session:
        return await identities.telegram_chat_of(session, kind, person_id)


async def refused(s: Setup, chat_id: int, token: str) -> str:
    """Open ``/start token`` from ``chat_id`` and return the one reply, which must be the refusal."""
    before = len(s.fake.sent_to(chat_id))
    s.fake.push_text(chat_id, f"/start {token}")

    async def answered() -> bool:
        await s.runtime.outbox.drain()
        return len(s.fake.sent_to(chat_id)) > before

    await eventually(answered)
    reply = s.fake.sent_to(chat_id)[-1].text or ""
    assert "invite link is not valid" in reply
    return reply


async def test_a_newer_link_revokes_the_older_one(setup: Setup) -> None:  # noqa: F811
    s = setup
    await issue(s, PersonKind.COACH, "maya", "tok-old")
    await issue(s, PersonKind.COACH, "maya", "tok-maya")
    s.fake.push_text(MAYA_CHAT, "/start tok-maya")
    [welcome] = await bot_says(s, MAYA_CHAT, 0)
    assert (welcome.text or "").startswith("Welcome, Maya")

    await refused(s, STRANGER_CHAT, "tok-old")
    assert await chat_of(s, PersonKind.COACH, "maya") == MAYA_CHAT
    # The stranger is still a stranger: a coach command gets the refusal, not Maya's clients.
    s.fake.push_text(STRANGER_CHAT, "clients")

    async def answered() -> bool:
        return len(s.fake.sent_to(STRANGER_CHAT)) == 2

    await eventually(answered)
    assert "I don't have you on my list" in (s.fake.sent_to(STRANGER_CHAT)[-1].text or "")


async def test_an_open_link_does_not_move_a_bound_coach(setup: Setup) -> None:  # noqa: F811
    s = setup
    await bind(s, "coach", "maya", MAYA_CHAT)
    await issue(s, PersonKind.COACH, "maya", "tok-leaked")  # issued without --rebind, e.g. before the upgrade
    await refused(s, STRANGER_CHAT, "tok-leaked")
    assert await chat_of(s, PersonKind.COACH, "maya") == MAYA_CHAT
    # Refused once, the link is spent: Maya herself cannot use it either (she needs nothing: she is bound).
    async with s.database.session() as session:
        row = await invites.invite_by_token(session, "tok-leaked")
        assert row is not None and row.revoked_at is not None and row.chat_id is None


async def test_a_rebind_link_moves_the_client_and_tells_the_old_chat_and_the_coach(setup: Setup) -> None:  # noqa: F811
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    await bind(s, "coach", "maya", MAYA_CHAT)
    await issue(s, PersonKind.CLIENT, "dana", "tok-new-phone", rebind=True)
    s.fake.push_text(NEW_CHAT, "/start tok-new-phone")
    [welcome] = await bot_says(s, NEW_CHAT, 0)
    assert (welcome.text or "").startswith("Welcome, Dana")
    assert await chat_of(s, PersonKind.CLIENT, "dana") == NEW_CHAT

    old = await bot_says(s, DANA_CHAT, 1)
    assert "no longer connected" in (old[-1].text or "")
    coach = await bot_says(s, MAYA_CHAT, 1)
    assert "Dana Whitfield's check-ins now go to a new Telegram chat" in (coach[-1].text or "")

    # The check-ins follow Dana to the new chat; the old one hears nothing more.
    assert await s.runtime.lifecycle.start_checkin("dana", SLOT) is not None
    await bot_says(s, NEW_CHAT, 1)
    assert len(s.fake.sent_to(DANA_CHAT)) == len(old)


async def test_messages_queued_before_a_rebind_go_to_the_new_chat(setup: Setup) -> None:  # noqa: F811
    """Reproduced before the fix: a check-in queued while Dana was moving to a new phone went to her old chat,
    which may be someone else's by then, after the bot had told that chat it was no longer connected."""
    s = setup
    await bind(s, "client", "dana", DANA_CHAT)
    await bind(s, "coach", "maya", MAYA_CHAT)
    said_before = len(s.fake.sent_to(DANA_CHAT))
    assert await s.runtime.lifecycle.start_checkin("dana", SLOT) is not None  # queued, not sent yet
    await issue(s, PersonKind.CLIENT, "dana", "tok-new-phone", rebind=True)
    s.fake.push_text(NEW_CHAT, "/start tok-new-phone")

    async def moved() -> bool:  # nothing is drained until the link is redeemed
        return await chat_of(s, PersonKind.CLIENT, "dana") == NEW_CHAT

    await eventually(moved)

    async def checkin_arrived() -> bool:
        await s.runtime.outbox.drain()
        return any(m.reply_markup for m in s.fake.sent_to(NEW_CHAT))

    await eventually(checkin_arrived)
    told_old = s.fake.sent_to(DANA_CHAT)[said_before:]
    assert len(told_old) == 1 and "no longer connected" in (told_old[0].text or "")
    assert any((m.text or "").startswith("Welcome, Dana") for m in s.fake.sent_to(NEW_CHAT))


async def add_maya(session: Session) -> None:
    await session.execute(
        sa.insert(Coach).values(id="maya", name="Maya", timezone="UTC", digest="weekly", active=True, updated_at=SLOT)
    )


async def test_redeeming_revokes_the_persons_other_open_links(database: Database) -> None:
    """Rows from before the upgrade can hold several open links for one person; the first opened ends them."""
    now = SLOT
    async with database.transaction() as session:
        await add_maya(session)
        for token in ("legacy-a", "legacy-b"):
            session.add(
                TelegramInvite(
                    token_hash=invites.token_hash(token),
                    person_kind=PersonKind.COACH,
                    person_id="maya",
                    expires_at=now + timedelta(days=1),
                )
            )
    async with database.transaction() as session:
        assert await invites.redeem_telegram_invite(session, "legacy-a", MAYA_CHAT, now) is not None
    async with database.transaction() as session:
        assert await invites.redeem_telegram_invite(session, "legacy-b", STRANGER_CHAT, now) is None
        assert await identities.telegram_chat_of(session, PersonKind.COACH, "maya") == MAYA_CHAT


async def test_only_a_hash_of_the_token_is_stored(database: Database) -> None:
    async with database.transaction() as session:
        await add_maya(session)
        await invites.create_telegram_invite(
            session, "the-secret-token", PersonKind.COACH, "maya", SLOT + timedelta(days=1), SLOT
        )
    async with database.session() as session:
        rows = (await session.execute(sa.text("SELECT * FROM telegram_invites"))).all()
    assert len(rows) == 1
    assert not any("the-secret-token" in str(value) for value in rows[0])
    assert hashlib.sha256(b"the-secret-token").hexdigest() in rows[0]


async def test_links_stored_before_the_upgrade_are_hashed_and_keep_working(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005"))
        for statement in (
            "INSERT INTO coaches (id, name, timezone, digest, active, updated_at) "
            "VALUES ('maya', 'Maya', 'UTC', 'weekly', true, CURRENT_TIMESTAMP)",
            "INSERT INTO telegram_invites (token, person_kind, person_id, expires_at) "
            "VALUES ('sent-before-upgrade', 'coach', 'maya', '2099-01-01 00:00:00')",
        ):
            await conn.execute(sa.text(statement))
    await database.upgrade()
    async with database.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT token_hash FROM telegram_invites"))).scalars().all()
    assert stored == [hashlib.sha256(b"sent-before-upgrade").hexdigest()]
    async with database.transaction() as session:
        assert await invites.redeem_telegram_invite(session, "sent-before-upgrade", MAYA_CHAT, SLOT) is not None


@pytest.mark.process
async def test_invite_commands_list_revoke_and_refuse_to_move_a_bound_person(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        path = telegram_config(tmp_path, fake.api_url)
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        env = {"TELEGRAM_BOT_TOKEN": fake.token}
        links = []
        for _ in range(2):
            status, out, err = await checkin_cli("invite", "dana", "--config", str(path), env=env)
            assert status == 0, err
            links.append(out.strip().partition("?start=")[2])

        status, listed, err = await checkin_cli("invites", "--config", str(path), env=env)
        assert status == 0, err
        lines = listed.splitlines()
        assert len(lines) == 2
        assert lines[0].startswith("client dana: revoked ") or lines[1].startswith("client dana: revoked ")
        assert any(line.startswith("client dana: open until ") for line in lines)
        assert not any(token in listed for token in links)

        status, out, err = await checkin_cli("invite", "dana", "--revoke", "--config", str(path), env=env)
        assert (status, out.strip()) == (0, "dana: 1 open invite link revoked"), err

        store = Database(url)
        await store.start()
        try:
            async with store.transaction() as session:
                raw = " ".join(str(row) for row in (await session.execute(sa.text("SELECT * FROM telegram_invites"))))
                assert not any(token in raw for token in links)
                await identities.bind_telegram_chat(session, PersonKind.CLIENT, "dana", DANA_CHAT)
        finally:
            await store.stop()

        status, out, err = await checkin_cli("invite", "dana", "--config", str(path), env=env)
        assert (status, out) == (2, "")
        assert "dana is already connected to a Telegram chat" in err and "--rebind" in err
        status, out, err = await checkin_cli("invite", "dana", "--rebind", "--config", str(path), env=env)
        assert status == 0, err
        status, listed, err = await checkin_cli("invites", "--config", str(path), env=env)
        assert listed.splitlines()[0].endswith("(rebind)")
