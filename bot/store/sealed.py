"""Which stored fields hold free text, and sealing or opening them with the session's ``Sealer``.

Three places keep what people wrote: an answer's ``text``, the ``reason`` of each signal stored with an alert
(a ``words`` reason quotes the client), and the ``text`` of an outbox payload (a coach's alert quotes the
client, and rows stay in the table once sent). The store seals them on the way in and opens them on the
way out, so everything above the store reads plain text. ``checkin rekey`` walks the same fields.

Reading never fails a whole conversation for one value no configured key opens: that value is logged (by row,
never by content) and treated as unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.sealing import KEY_ENV, Sealer, UnreadableSealError

log = logging.getLogger(__name__)

#: The key of an outbox payload that holds the message text.
PAYLOAD_TEXT = "text"
#: The key of a stored signal record that may quote the client.
SIGNAL_TEXT = "reason"


def _unreadable(what: str) -> None:
    log.warning("%s was sealed with a key %s does not hold; treated as unavailable", what, KEY_ENV)


def open_text(sealer: Sealer, stored: str | None, what: str) -> str | None:
    """The plain text of a stored value; ``None`` when there is none or no configured key opens it."""
    if stored is None:
        return None
    try:
        return sealer.open(stored)
    except UnreadableSealError:
        _unreadable(what)
        return None


def seal_payload(sealer: Sealer, payload: Mapping[str, Any]) -> dict[str, Any]:
    text = payload.get(PAYLOAD_TEXT)
    return {**payload, PAYLOAD_TEXT: sealer.seal(text)} if isinstance(text, str) else dict(payload)


def open_payload(sealer: Sealer, payload: Mapping[str, Any], what: str) -> dict[str, Any] | None:
    """The payload with its text opened; ``None`` when the text cannot be opened (the message cannot be sent)."""
    stored = payload.get(PAYLOAD_TEXT)
    if not isinstance(stored, str):
        return dict(payload)
    text = open_text(sealer, stored, what)
    return None if text is None else {**payload, PAYLOAD_TEXT: text}


def seal_signals(sealer: Sealer, signals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**s, SIGNAL_TEXT: sealer.seal(reason)} if isinstance(reason := s.get(SIGNAL_TEXT), str) else dict(s)
        for s in signals
    ]


def open_signals(sealer: Sealer, signals: Sequence[Mapping[str, Any]], what: str) -> list[dict[str, Any]]:
    """The signals with their reasons opened; a reason no key opens reads as empty, the rest stays usable."""
    return [
        {**s, SIGNAL_TEXT: open_text(sealer, reason, what) or ""}
        if isinstance(reason := s.get(SIGNAL_TEXT), str)
        else dict(s)
        for s in signals
    ]
