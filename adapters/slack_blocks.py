"""Block Kit for the Slack adapter: the core's plain text and choices as blocks, and button values back.

The core's text is plain and may hold a client's own words, which a coach's alert echoes. Slack reads
``&``, ``<`` and ``>`` as mrkdwn control characters (``<!channel>``, ``<@U123>``, ``<http://x|y>``), so they are
escaped everywhere text is shown: a client who types ``<!channel>`` cannot ping anyone through the bot.

A button's ``value`` carries the check-in id, the step and the choice as JSON, so a press is self-contained
(no server-side lookup), and a press on an old check-in's message is recognised by the runtime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.contract.fitting import fit_lines
from bot.contract.messages import Choice

#: Slack's limit on a section's text, in characters.
SECTION_LIMIT = 3000
#: What a message's text may take, escaped, in its sections and in its ``text``: Slack refuses blocks whose text
#: adds up to about 13,200 characters (``msg_blocks_too_long``, undocumented) and a text over 40,000
#: (``msg_too_long``); this stays below both.
MESSAGE_TEXT_LIMIT = 12_000
#: Slack's limit on a button's label (plain text), in characters.
BUTTON_LABEL_LIMIT = 75
#: Slack's limit on a button's value, in characters.
BUTTON_VALUE_LIMIT = 2000
#: Buttons in one actions block at most.
BUTTONS_PER_BLOCK = 25
#: The prefix of every choice button's ``action_id``; the adapter listens for it.
ACTION_PREFIX = "choice-"
#: The ``block_id`` of the buttons, so the answered message can drop exactly them.
ACTIONS_BLOCK = "choices"


@dataclass(frozen=True, slots=True)
class ButtonValue:
    checkin_id: int
    step_key: str
    value: str


def escape(text: str) -> str:
    """Text shown as mrkdwn exactly as written: no mentions, links or channel-wide pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(checkin_id: int | None, step_key: str | None, value: str) -> str:
    encoded = json.dumps({"c": checkin_id or 0, "s": step_key or "", "v": value}, separators=(",", ":"))
    if len(encoded) > BUTTON_VALUE_LIMIT:
        raise ValueError(f"button value over {BUTTON_VALUE_LIMIT} characters")
    return encoded


def parse_button_value(raw: object) -> ButtonValue | None:
    """The pressed button's meaning, or None for a value this bot did not make."""
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    checkin, step, value = data.get("c"), data.get("s"), data.get("v")
    if not isinstance(checkin, int) or not isinstance(step, str) or not isinstance(value, str):
        return None
    return ButtonValue(checkin, step, value)


def fit_message(text: str) -> str:
    """``text`` shortened, longest lines first (``fit_lines``), so that escaped it fits ``MESSAGE_TEXT_LIMIT``:
    an alert quoting a 40,000-character note arrives with its suggestion instead of being refused for good."""
    return fit_lines(text, MESSAGE_TEXT_LIMIT, length=lambda part: len(escape(part)))


def _sections(text: str) -> list[dict[str, Any]]:
    escaped = escape(text)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escaped[start : start + SECTION_LIMIT]}}
        for start in range(0, max(len(escaped), 1), SECTION_LIMIT)
    ]


def message_blocks(
    text: str, choices: Sequence[Choice], checkin_id: int | None, step_key: str | None
) -> list[dict[str, Any]]:
    """The text as sections, then one button per choice."""
    blocks = _sections(text)
    buttons = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{index}",
            "text": {"type": "plain_text", "text": choice.label[:BUTTON_LABEL_LIMIT], "emoji": True},
            "value": button_value(checkin_id, step_key, choice.value),
        }
        for index, choice in enumerate(choices)
    ]
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        suffix = "" if start == 0 else f"-{start // BUTTONS_PER_BLOCK}"
        blocks.append(
            {
                "type": "actions",
                "block_id": ACTIONS_BLOCK + suffix,
                "elements": buttons[start : start + BUTTONS_PER_BLOCK],
            }
        )
    return blocks


def answered_blocks(
    blocks: Sequence[dict[str, Any]], label: str, *, keep_others_than: str | None = None
) -> list[dict[str, Any]]:
    """The message as it was with the chosen answer shown under it, without its buttons; with
    ``keep_others_than`` (a pressed command button's value) only that button goes and the others stay."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    answered = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"→ *{escape(label)}*"}]}
    if keep_others_than is None:
        return [*kept, answered]
    actions = [
        {**b, "elements": others}
        for b in blocks
        if b.get("type") == "actions"
        and (others := [e for e in b.get("elements", []) if e.get("value") != keep_others_than])
    ]
    return [*kept, answered, *actions]
