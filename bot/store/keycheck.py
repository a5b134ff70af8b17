"""The start-up check that ``CHECKIN_ENCRYPTION_KEY`` opens what is stored (issue 15).

A wrong but well-formed key used to start a bot that then read every answer as unavailable and failed every
queued message; a replica missing the key another one already seals with did the same to the other's rows.
Before it starts, the bot opens the newest sealed values of every sealed field (``bot.store.sealed``) and
refuses to run when any of them does not open: the operator hears it at once, in one line, and nothing is
lost. The sample is small and indexed (newest rows by id), so the check costs a few reads whatever the size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from bot.store.database import Database
from bot.store.models import Alert, Answer, CoachWaiting, OutboxMessage
from bot.store.sealed import PAYLOAD_TEXT, SIGNAL_TEXT
from bot.store.sealing import KEY_ENV, SEALED, UnreadableSealError

#: How many of the newest rows of each sealed field are opened at start.
SAMPLE = 20


class KeyMismatchError(RuntimeError):
    """The configured keys do not open values the database holds; the message never repeats a key."""


def _sealed_texts(value: Any) -> Iterator[str]:
    """The sealed strings inside a stored text, outbox payload or signal list."""
    if isinstance(value, str):
        texts: list[Any] = [value]
    elif isinstance(value, dict):
        texts = [value.get(PAYLOAD_TEXT)]
    elif isinstance(value, list):
        texts = [s.get(SIGNAL_TEXT) for s in value if isinstance(s, dict)]
    else:
        texts = []
    yield from (t for t in texts if isinstance(t, str) and t.startswith(SEALED))


async def check_keys(database: Database, sample: int = SAMPLE) -> None:
    """Raise ``KeyMismatchError`` when a sampled sealed value does not open with the configured keys."""
    fields = (
        (Answer.id, Answer.text),
        (Alert.id, Alert.signals),
        (OutboxMessage.id, OutboxMessage.payload),
        (CoachWaiting.id, CoachWaiting.payload),
    )
    checked = unreadable = 0
    async with database.session() as session:
        for row_id, column in fields:
            values = await session.scalars(sa.select(column).order_by(row_id.desc()).limit(sample))
            for stored in values:
                for text in _sealed_texts(stored):
                    checked += 1
                    try:
                        database.sealer.open(text)
                    except UnreadableSealError:
                        unreadable += 1
    if not unreadable:
        return
    if not database.sealer.enabled:
        raise KeyMismatchError(
            f"{KEY_ENV} is not set, but the database holds encrypted text; set the key it was written with"
        )
    raise KeyMismatchError(
        f"{KEY_ENV} does not open {unreadable} of {checked} encrypted values sampled from the database: the key is "
        "wrong, or another process encrypts with a key this one lacks; list every key in use, the encrypting one "
        "first (NEW,OLD; see docs/operations.md, rotating the key)"
    )
