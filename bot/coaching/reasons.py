"""Why a platform refused a client, in the words a coach reads: the platform's own reason stays in the logs.

Telegram says "Forbidden: bot was blocked by the user", Slack "user_disabled"; a coach needs "they blocked the
bot". Each known reason maps to a text key in prompts; anything else reads as the general case.
"""

from __future__ import annotations

#: (fragment of the platform's reason, text key), first match wins; the fragments are matched without case.
_REASONS: tuple[tuple[str, str], ...] = (
    ("blocked", "unreachable_reason_blocked"),
    ("kicked", "unreachable_reason_blocked"),
    ("deactivated", "unreachable_reason_account_gone"),
    ("user_disabled", "unreachable_reason_account_gone"),
    ("account_inactive", "unreachable_reason_account_gone"),
    ("user_not_found", "unreachable_reason_account_gone"),
    ("users_not_found", "unreachable_reason_account_gone"),
    ("chat not found", "unreachable_reason_no_chat"),
    ("channel_not_found", "unreachable_reason_no_chat"),
    ("cannot_dm_bot", "unreachable_reason_no_chat"),
    ("messages_tab_disabled", "unreachable_reason_no_chat"),
    ("can't initiate conversation", "unreachable_reason_no_chat"),
)


def unreachable_reason_key(reason: str) -> str:
    """The text key explaining ``reason`` to a coach."""
    lowered = reason.casefold()
    return next((key for fragment, key in _REASONS if fragment in lowered), "unreachable_reason_other")
