"""Message texts from ``prompts/messages.yaml``.

Texts live outside Python so a coach can reword or translate them. Placeholders are checked when the file
loads: a misspelt ``{coach_nmae}`` fails at start-up with the key's name rather than in front of a client.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from importlib import resources
from typing import Final

import yaml

#: Placeholders each text may use; anything else in a prompts file is an error.
PLACEHOLDERS: Final[Mapping[str, frozenset[str]]] = {
    "privacy_notice": frozenset({"coach_name"}),
    "intro": frozenset({"client_name", "count"}),
    "question": frozenset({"number", "count", "text"}),
    "previous_answer": frozenset({"answer"}),
    "skip_label": frozenset(),
    "hint_scale": frozenset({"min", "max", "labels"}),
    "hint_text": frozenset(),
    "hint_out_of_range": frozenset({"value", "min", "max"}),
    "going_back": frozenset(),
    "back_at_start": frozenset(),
    "stale_choice": frozenset(),
    "completed": frozenset({"coach_name"}),
    "skipped_all": frozenset(),
    "pause_needs_duration": frozenset(),
    "paused": frozenset({"until"}),
    "stopped": frozenset({"coach_name"}),
    "resumed": frozenset(),
    "already_active": frozenset(),
    "reminder": frozenset(),
    "expired": frozenset(),
    "no_open_checkin": frozenset(),
    "help": frozenset(),
    "unknown_sender": frozenset(),
    "invite_welcome_client": frozenset({"client_name", "coach_name"}),
    "invite_welcome_coach": frozenset({"coach_name"}),
    "invite_invalid": frozenset(),
    "coach_alert_title": frozenset({"client_name", "severity"}),
    "coach_alert_reason": frozenset({"reason"}),
    "coach_alert_words": frozenset({"client_name", "text"}),
    "digest_title_weekly": frozenset({"coach_name", "date"}),
    "digest_title_daily": frozenset({"coach_name", "date"}),
    "digest_no_clients": frozenset(),
    "digest_client": frozenset({"arrow", "client_name", "status", "alerts"}),
    "digest_replied": frozenset(),
    "digest_no_reply": frozenset(),
    "digest_not_asked": frozenset(),
    "digest_open_alerts": frozenset({"count"}),
    "digest_note": frozenset({"note"}),
    "alert_unacknowledged": frozenset(),
    "coach_client_unreachable": frozenset({"client_name", "platform", "reason"}),
    "reason_low_score": frozenset({"question", "value", "floor", "min", "max"}),
    "reason_drop": frozenset(
        {"usual", "now", "low", "high", "question", "question_usual", "question_now"},
    ),
    "reason_downtrend": frozenset({"count", "first", "last", "per_checkin", "question"}),
    "reason_withdrawal": frozenset({"count", "details"}),
    "withdrawal_missed": frozenset({"date"}),
    "withdrawal_skipped": frozenset({"date"}),
    "withdrawal_slow": frozenset({"date", "hours", "usual"}),
    "withdrawal_short": frozenset({"date", "chars", "usual"}),
    "withdrawal_items": frozenset({"date", "count", "total"}),
    "reason_words": frozenset({"question", "meaning", "text"}),
    "reason_wellbeing": frozenset({"question", "text"}),
    "reason_stalled_progress": frozenset({"count", "first", "last", "min", "max"}),
    "coach_alert_context": frozenset({"reason"}),
    "coach_alert_suggestion": frozenset({"suggestion"}),
    "suggest_hope": frozenset(),
    "suggest_focus": frozenset(),
    "suggest_relationship": frozenset(),
    "suggest_trust": frozenset(),
    "suggest_perspective": frozenset(),
    "demo_banner": frozenset({"client_name", "coach_name", "database"}),
    "demo_not_started": frozenset({"client_name"}),
    "demo_input_ended": frozenset({"database"}),
    "demo_coach_view": frozenset({"client_name", "status"}),
    "demo_answer": frozenset({"question", "answer"}),
    "demo_skipped": frozenset(),
    "demo_no_alert": frozenset(),
    "demo_alert": frozenset({"severity"}),
    "checkin_needs_resume": frozenset(),
    "checkin_already_open": frozenset(),
    "coach_alert_button_ack": frozenset(),
    "coach_alert_button_checkin": frozenset(),
    "coach_alert_button_snooze": frozenset(),
    "coach_help": frozenset(),
    "coach_usage_trend": frozenset(),
    "coach_usage_checkin": frozenset(),
    "coach_usage_pause": frozenset(),
    "coach_usage_resume": frozenset(),
    "coach_usage_session": frozenset(),
    "coach_usage_snooze": frozenset(),
    "coach_usage_clients": frozenset(),
    "coach_usage_ack": frozenset(),
    "coach_unknown_client": frozenset({"name"}),
    "coach_ambiguous_client": frozenset({"name", "options", "example"}),
    "coach_no_clients": frozenset(),
    "coach_clients_title": frozenset({"count"}),
    "coach_client_line": frozenset({"arrow", "client_name", "client_id", "state", "last", "rate", "alerts"}),
    "coach_client_never": frozenset(),
    "coach_client_rate_none": frozenset(),
    "coach_state_active": frozenset(),
    "coach_state_paused": frozenset({"date"}),
    "coach_state_stopped": frozenset(),
    "coach_state_unreachable": frozenset(),
    "coach_trend": frozenset({"client_name", "arrow", "last", "alerts"}),
    "coach_trend_empty": frozenset({"client_name"}),
    "coach_checkin_sent": frozenset({"client_name"}),
    "coach_checkin_not_sent": frozenset({"client_name", "state"}),
    "coach_paused": frozenset({"client_name", "date"}),
    "coach_resumed": frozenset({"client_name"}),
    "coach_resume_stopped": frozenset({"client_name"}),
    "coach_resume_not_paused": frozenset({"client_name"}),
    "coach_session_recorded": frozenset({"client_name", "date"}),
    "coach_session_known": frozenset({"client_name", "date"}),
    "coach_acknowledged": frozenset({"count"}),
    "coach_nothing_to_acknowledge": frozenset(),
    "coach_snoozed": frozenset({"client_name", "date"}),
}


class TextsError(ValueError):
    """A prompts file is missing a text or uses a placeholder the bot does not provide."""


class Texts:
    """The texts of one language, rendered with ``render(key, **values)``."""

    __slots__ = ("_texts", "language")

    def __init__(self, language: str, texts: Mapping[str, str]) -> None:
        missing = sorted(set(PLACEHOLDERS) - set(texts))
        if missing:
            raise TextsError(f"messages[{language}] is missing texts: {', '.join(missing)}")
        for key, text in texts.items():
            allowed = PLACEHOLDERS.get(key)
            if allowed is None:
                raise TextsError(f"messages[{language}].{key}: unknown text key")
            used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            unknown = used - allowed
            if unknown:
                raise TextsError(
                    f"messages[{language}].{key}: unknown placeholder(s) {sorted(unknown)}; "
                    f"allowed: {sorted(allowed) or 'none'}"
                )
        self.language = language
        self._texts = dict(texts)

    def render(self, key: str, **values: object) -> str:
        return self._texts[key].format(**values)


def load_texts(language: str = "en") -> Texts:
    source = resources.files("prompts").joinpath("messages.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(source)
    if not isinstance(data, dict) or not isinstance(data.get(language), dict):
        raise TextsError(f"prompts/messages.yaml has no texts for language '{language}'")
    texts = data[language]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items()):
        raise TextsError(f"prompts/messages.yaml: every text under '{language}' must be a string")
    return Texts(language, texts)
