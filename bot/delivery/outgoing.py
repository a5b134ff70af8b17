"""Messages for one recipient turned into outbox rows, inside the caller's transaction.

Every sender in the core (conversations, coach commands, alerts, digests) queues through here, so each row's
idempotency key has one shape: ``{cause}:{index}``; re-running the same cause queues nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.contract.messages import OutboundMessage
from bot.conversation import engine
from bot.store import Session, outbox

#: Where a message goes: (platform, recipient).
Address = tuple[str, str]
#: The outbox payload's key listing the clients a coach's message is about (``bot.store.admin`` erases by it).
ABOUT = outbox.ABOUT
#: The outbox payload's key naming the client a message gives the privacy notice to: the outbox records the
#: notice as given when that message is delivered, not when it is queued.
PRIVACY_NOTICE_FOR = "privacy_notice_for"


def outbox_rows(
    address: Address,
    messages: Sequence[engine.Outgoing],
    checkin_id: int | None,
    key_prefix: str,
    audience: str = "client",
    image_png: bytes | None = None,
    *,
    person: outbox.PersonRef,
    notice_for: str | None = None,
    about: Sequence[str] = (),
    not_before: datetime | None = None,
) -> list[outbox.OutboxRow]:
    """Outbox rows for messages to one recipient; the key makes re-running the same cause a no-op.

    ``person`` is who the address belongs to; ``about`` names the clients a coach's message concerns (an alert,
    a summary, a digest quoting them), so erasing a client erases it. ``notice_for`` names the client when the
    first message is their privacy notice; ``not_before`` holds the first message (and so, by the per-recipient
    order, the rest) until then or until it is released.
    """
    platform, recipient = address
    rows = [
        outbox.OutboxRow(
            platform,
            recipient,
            OutboundMessage(
                platform, recipient, m.text, m.choices, checkin_id, m.step_key, audience, image_png
            ).to_payload(),
            f"{key_prefix}:{index}",
            person,
            not_before if index == 0 else None,
        )
        for index, m in enumerate(messages)
    ]
    for row in rows:
        if about:
            row.payload[ABOUT] = list(about)
    if notice_for is not None and rows:
        rows[0].payload[PRIVACY_NOTICE_FOR] = notice_for
    return rows


async def queue(
    session: Session,
    address: Address,
    messages: Sequence[engine.Outgoing],
    checkin_id: int | None,
    key_prefix: str,
    now: datetime,
    *,
    person: outbox.PersonRef,
    audience: str = "client",
    image_png: bytes | None = None,
    about: Sequence[str] = (),
    not_before: datetime | None = None,
) -> None:
    rows = outbox_rows(
        address,
        messages,
        checkin_id,
        key_prefix,
        audience,
        image_png,
        person=person,
        about=about,
        not_before=not_before,
    )
    await outbox.enqueue(session, rows, now)
