"""The normalized messages that cross the boundary between the core and the platform adapters.

Adapters turn platform payloads into ``InboundText``/``InboundChoice`` and turn ``OutboundMessage`` into
platform calls; the core never sees a Slack block or a Telegram update. ``event_key`` is the platform's own
delivery id (Slack ``event_id``, Telegram ``update_id``), which is what makes at-least-once delivery safe.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The ``step_key`` of buttons that are commands (a coach's alert buttons), not answers to one question: a press
#: takes away only the button pressed, since acknowledging an alert does not make snoozing it moot.
COACH_STEP = "coach"


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class InboundText:
    platform: str
    sender: str
    event_key: str
    text: str
    #: The sender's e-mail where the platform knows it (Slack); people configured by e-mail are found by it.
    sender_email: str | None = None


@dataclass(frozen=True, slots=True)
class InboundChoice:
    """A button press. The check-in id travels with the button so a press on an old check-in is recognised."""

    platform: str
    sender: str
    event_key: str
    checkin_id: int
    step_key: str
    value: str
    sender_email: str | None = None


@dataclass(frozen=True, slots=True)
class InboundBlocked:
    """The person blocked the bot (Telegram's ``my_chat_member`` "kicked"): nothing more reaches them."""

    platform: str
    sender: str
    event_key: str


#: What a client says: text or a button press.
InboundReply = InboundText | InboundChoice
InboundEvent = InboundText | InboundChoice | InboundBlocked
InboundSink = Callable[[InboundEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    platform: str
    recipient: str
    text: str
    choices: tuple[Choice, ...] = ()
    checkin_id: int | None = None
    step_key: str | None = None
    #: Who the message is for in the domain's terms ("client" or "coach"); adapters may render them differently.
    audience: str = "client"
    #: A PNG to attach (the trend chart of an alert); kept in the outbox row so a retry sends the same image.
    image_png: bytes | None = field(default=None, repr=False)
    outbox_id: int | None = field(default=None, compare=False)

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the outbox row; platform and recipient are columns of their own."""
        return {
            "text": self.text,
            "choices": [{"value": c.value, "label": c.label} for c in self.choices],
            "checkin_id": self.checkin_id,
            "step_key": self.step_key,
            "audience": self.audience,
            "image_png": base64.b64encode(self.image_png).decode("ascii") if self.image_png is not None else None,
        }

    @classmethod
    def from_payload(
        cls, platform: str, recipient: str, payload: Mapping[str, Any], outbox_id: int | None = None
    ) -> OutboundMessage:
        return cls(
            platform=platform,
            recipient=recipient,
            text=str(payload["text"]),
            choices=tuple(Choice(str(c["value"]), str(c["label"])) for c in payload.get("choices", ())),
            checkin_id=payload.get("checkin_id"),
            step_key=payload.get("step_key"),
            audience=str(payload.get("audience", "client")),
            image_png=base64.b64decode(payload["image_png"]) if payload.get("image_png") else None,
            outbox_id=outbox_id,
        )
