"""What a chaos run owes and what happened: the database's rows against the fake platform's records.

- answers lost: answers the scripted clients gave (and the platform took) that no ``answers`` row holds;
- check-ins doubled: a client with more than one check-in for the one slot that was due;
- messages lost: outbox rows not sent (still queued, or given up), and sent rows the platform never showed;
- duplicates: messages the platform showed more often than the outbox holds them.

Telegram messages are matched by chat and text as first sent (the adapter sends the text as stored), Slack's
by the outbox id each message carries in its metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from adapters.telegram import fit_text
from bot.contract.statuses import CheckInStatus, OutboxStatus
from bot.store import CheckIn, Database, OutboxMessage
from bot.store.models import Answer
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_telegram import FakeTelegram


@dataclass(frozen=True, slots=True)
class Progress:
    checkins: int
    completed: int
    unsent: int


async def progress(database: Database) -> Progress:
    async with database.session() as session:
        checkins = await session.scalar(sa.select(sa.func.count()).select_from(CheckIn))
        completed = await session.scalar(
            sa.select(sa.func.count()).select_from(CheckIn).where(CheckIn.status == CheckInStatus.COMPLETED)
        )
        unsent = await session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
        )
    return Progress(int(checkins or 0), int(completed or 0), int(unsent or 0))


async def in_flight(database: Database, worker_id: str) -> int:
    """Rows a worker held when it died: leased to it and not recorded as sent."""
    async with database.session() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.leased_by == worker_id, OutboxMessage.status == OutboxStatus.SENDING)
        )
    return int(count or 0)


@dataclass(frozen=True, slots=True)
class Ledger:
    checkins: int
    completed: int
    checkins_doubled: int
    answers_given: int
    answers_stored: int
    answers_lost: int
    messages: int
    messages_unsent: int
    messages_given_up: int
    messages_not_shown: int
    duplicates: int
    #: A few of the messages shown twice (address and the first words), to tell why.
    duplicate_samples: tuple[str, ...] = ()

    @property
    def messages_lost(self) -> int:
        return self.messages_unsent + self.messages_given_up + self.messages_not_shown


async def settle(database: Database, given: Counter[str], platform: FakeTelegram | FakeSlack) -> Ledger:
    """Count everything once the run is over."""
    async with database.session() as session:
        per_client = Counter((await session.scalars(sa.select(CheckIn.client_id))).all())
        completed = await session.scalar(
            sa.select(sa.func.count()).select_from(CheckIn).where(CheckIn.status == CheckInStatus.COMPLETED)
        )
        stored = Counter(
            dict(
                (
                    await session.execute(
                        sa.select(CheckIn.client_id, sa.func.count(Answer.id))
                        .join(Answer, Answer.checkin_id == CheckIn.id)
                        .group_by(CheckIn.client_id)
                    )
                ).all()
            )
        )
        rows = (
            await session.execute(
                sa.select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.payload, OutboxMessage.status)
            )
        ).all()
    by_address = _addresses(platform, given)
    answers_given = sum(given.values())
    lost = sum(max(0, times - stored[by_address.get(address, address)]) for address, times in given.items())
    sent = [(row_id, recipient, payload) for row_id, recipient, payload, status in rows if status == OutboxStatus.SENT]
    not_shown, doubled = _compare(platform, sent)
    return Ledger(
        checkins=sum(per_client.values()),
        completed=int(completed or 0),
        checkins_doubled=sum(n - 1 for n in per_client.values() if n > 1),
        answers_given=answers_given,
        answers_stored=sum(stored.values()),
        answers_lost=lost,
        messages=len(rows),
        messages_unsent=sum(1 for *_, status in rows if status in (OutboxStatus.PENDING, OutboxStatus.SENDING)),
        messages_given_up=sum(1 for *_, status in rows if status == OutboxStatus.FAILED),
        messages_not_shown=not_shown,
        duplicates=sum(doubled.values()),
        duplicate_samples=tuple(f"{address}: {str(text)[:50]}" for address, text in list(doubled)[:5]),
    )


def _addresses(platform: FakeTelegram | FakeSlack, given: Counter[str]) -> dict[str, str]:
    """Address -> client id, for the practice's naming (``benchmarks.chaos.practice.Practice.address``)."""
    if isinstance(platform, FakeSlack):
        return {address: f"c{int(address[3:]):04d}" for address in given}
    return {address: f"c{int(address) - 100_000:04d}" for address in given}


def _compare(
    platform: FakeTelegram | FakeSlack, sent: list[tuple[int, str, dict[str, object]]]
) -> tuple[int, Counter[tuple[str, object]]]:
    """(sent rows the platform never showed, messages it showed more often than the outbox holds them)."""
    if isinstance(platform, FakeSlack):
        shown: Counter[tuple[str, object]] = Counter(
            (message.channel, int(message.metadata["event_payload"]["outbox_id"]))
            for message in platform.messages.values()
            if message.metadata and "outbox_id" in message.metadata.get("event_payload", {})
        )
        owed = Counter((FakeSlack.dm_channel(recipient), row_id) for row_id, recipient, _ in sent)
    else:
        shown = Counter((str(message.chat_id), message.original) for message in platform.messages.values())
        # Telegram shows a text over its limit shortened (a long digest), so that is what was owed.
        owed = Counter((recipient, fit_text(str(payload.get("text")))) for _, recipient, payload in sent)
    return sum((owed - shown).values()), shown - owed
