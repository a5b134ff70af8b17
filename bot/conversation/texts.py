"""Message texts, one set per language, rendered with their placeholders filled in.

Texts live outside Python (``prompts/<language>/messages.yaml``) so a coach can reword or translate them;
``bot.config.message_files`` reads and checks those files. English is complete; another language may lack
texts, and each missing one is read in English, so a half-finished translation never leaves a client without
a message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Final

from bot.conversation.languages import ENGLISH, candidates

log = logging.getLogger(__name__)

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
    "invite_moved_away_client": frozenset(),
    "invite_moved_away_coach": frozenset(),
    "coach_alert_title": frozenset({"client_name", "severity"}),
    "coach_alert_reason": frozenset({"reason"}),
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
    "coach_messages_given_up": frozenset({"client_name", "count", "platform", "horizon"}),
    "reason_low_score": frozenset({"question", "value", "floor", "min", "max"}),
    "reason_drop": frozenset(
        {"usual", "now", "low", "high", "question", "question_usual", "question_now"},
    ),
    "reason_downtrend": frozenset({"count", "first", "last", "per_checkin", "question"}),
    "reason_withdrawal": frozenset({"count", "details"}),
    "reason_withdrawal_one": frozenset({"details"}),
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
    # Alerts a coach can act on (issue 13, item 3): what changed, why it matters, quotes, suggestions, updates.
    "coach_alert_changed": frozenset({"answers", "date", "before", "usual"}),
    "coach_alert_answer": frozenset({"question", "value"}),
    "coach_alert_floor": frozenset({"floor"}),
    "coach_alert_before": frozenset({"values", "date"}),
    "coach_alert_usual": frozenset({"values"}),
    "coach_alert_why": frozenset({"why"}),
    "why_hope": frozenset(),
    "why_focus": frozenset(),
    "why_trust": frozenset(),
    "why_perspective": frozenset(),
    "why_relationship": frozenset(),
    "coach_alert_quote": frozenset({"client_name", "question", "text"}),
    "coach_alert_quote_flagged": frozenset({"client_name", "question", "text"}),
    "coach_alert_context_wellbeing": frozenset({"question"}),
    "suggest_theme_priority": frozenset(),
    "suggest_theme_unheard": frozenset(),
    "suggest_theme_judged": frozenset(),
    "suggest_theme_confidentiality": frozenset(),
    "suggest_theme_agenda": frozenset(),
    "suggest_theme_pushed": frozenset(),
    "suggest_theme_value": frozenset(),
    "suggest_theme_leaving": frozenset(),
    "suggest_theme_dread": frozenset(),
    "suggest_theme_not_getting_it": frozenset(),
    "coach_alert_reach_out": frozenset({"client_name"}),
    "coach_alert_update": frozenset({"client_name", "severity", "date"}),
    # Charts a coach can read at a glance (issue 13, item 7).
    "chart_title": frozenset({"client_name"}),
    "chart_no_checkins": frozenset(),
    "chart_no_answers": frozenset(),
    "chart_alliance": frozenset(),
    "chart_missed": frozenset(),
    "chart_alert_watch": frozenset(),
    "chart_alert_urgent": frozenset(),
    "chart_floor": frozenset({"floor"}),
    "chart_scale_low": frozenset(),
    "chart_scale_high": frozenset(),
    "demo_banner": frozenset({"client_name", "coach_name", "database"}),
    "demo_not_started": frozenset({"client_name"}),
    "demo_input_ended": frozenset({"database"}),
    "demo_input_ended_discarded": frozenset(),
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
    "coach_digest_button_dashboard": frozenset(),
    "coach_help": frozenset(),
    "coach_usage_trend": frozenset(),
    "coach_usage_checkin": frozenset(),
    "coach_usage_pause": frozenset(),
    "coach_usage_resume": frozenset(),
    "coach_usage_session": frozenset(),
    "coach_usage_snooze": frozenset(),
    "coach_usage_clients": frozenset(),
    "coach_usage_ack": frozenset(),
    # The coach's dashboard: the sign-in link in chat, and the words its charts carry.
    "coach_usage_dashboard": frozenset(),
    "coach_dashboard_link": frozenset({"url", "minutes"}),
    "coach_dashboard_off": frozenset(),
    "dashboard_practice_hope": frozenset(),
    "dashboard_practice_focus": frozenset(),
    "dashboard_practice_relationship": frozenset(),
    "dashboard_practice_trust": frozenset(),
    "dashboard_practice_perspective": frozenset(),
    "dashboard_goal_progress": frozenset(),
    "dashboard_trend_title": frozenset({"client_name"}),
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
    "coach_checkin_no_address": frozenset({"client_name"}),
    # One per check-in status (bot.contract.statuses.CheckInStatus), as a coach reads it.
    "checkin_status_due": frozenset(),
    "checkin_status_sent": frozenset(),
    "checkin_status_in_progress": frozenset(),
    "checkin_status_completed": frozenset(),
    "checkin_status_expired": frozenset(),
    "checkin_status_skipped": frozenset(),
    "checkin_status_failed": frozenset(),
    "coach_paused": frozenset({"client_name", "date"}),
    "coach_resumed": frozenset({"client_name"}),
    "coach_resume_stopped": frozenset({"client_name"}),
    "coach_resume_not_paused": frozenset({"client_name"}),
    "coach_session_recorded": frozenset({"client_name", "date"}),
    "coach_session_known": frozenset({"client_name", "date"}),
    "coach_acknowledged": frozenset({"count"}),
    "coach_nothing_to_acknowledge": frozenset(),
    "coach_snoozed": frozenset({"client_name", "date"}),
    # The coach's loop (coachloop): each check-in to the coach, ``answers``, what a client did, why unreachable.
    "coach_summary_title_completed": frozenset({"client_name", "date"}),
    "coach_summary_title_skipped": frozenset({"client_name", "date"}),
    "coach_summary_title_expired": frozenset({"client_name", "date"}),
    "coach_summary_score": frozenset({"question", "value", "arrow"}),
    "coach_summary_usual": frozenset({"value"}),
    "coach_summary_separator": frozenset(),
    "coach_summary_legend": frozenset({"date"}),
    "coach_summary_no_scores": frozenset(),
    "coach_summary_skipped": frozenset({"questions"}),
    "coach_summary_quote_intro": frozenset({"client_name", "question"}),
    "coach_summary_quote_line": frozenset({"text"}),
    "coach_summary_alert_follows": frozenset(),
    "coach_summary_alert_follows_quoted": frozenset(),
    "coach_answers_title": frozenset({"client_name", "count"}),
    "coach_answers_empty": frozenset({"client_name"}),
    "coach_usage_answers": frozenset(),
    "coach_notice_stopped": frozenset({"client_name"}),
    "coach_notice_resumed": frozenset({"client_name"}),
    "coach_notice_paused": frozenset({"client_name", "date"}),
    "coach_notice_skipped_all": frozenset({"client_name"}),
    "coach_notice_rebound": frozenset({"client_name"}),
    "platform_name_slack": frozenset(),
    "platform_name_telegram": frozenset(),
    "platform_name_console": frozenset(),
    "unreachable_reason_blocked": frozenset({"client_name"}),
    "unreachable_reason_account_gone": frozenset({"client_name"}),
    "unreachable_reason_no_chat": frozenset({"client_name"}),
    "unreachable_reason_other": frozenset({"client_name"}),
    "date": frozenset({"weekday", "day", "month", "year"}),
    "weekday_names": frozenset(),
    "month_names": frozenset(),
    # The pre-session brief (bot.coaching.brief) and the client's own progress (bot.conversation.progress).
    "coach_usage_brief": frozenset(),
    "brief_title": frozenset({"client_name", "date"}),
    "brief_title_unplanned": frozenset({"client_name"}),
    "brief_since_session": frozenset({"date"}),
    "brief_since_start": frozenset(),
    "brief_checkin": frozenset({"date", "scores"}),
    "brief_quote": frozenset({"question", "text"}),
    "brief_no_checkins": frozenset(),
    "brief_alerts_title": frozenset(),
    "brief_no_alerts": frozenset(),
    "brief_alert": frozenset({"date", "severity", "reasons"}),
    "brief_points_title": frozenset(),
    "brief_point_line": frozenset({"point", "why"}),
    "brief_why_fell": frozenset({"before", "now"}),
    "brief_why_level": frozenset({"now"}),
    "brief_why_none": frozenset(),
    "brief_point_hope": frozenset(),
    "brief_point_focus": frozenset(),
    "brief_point_relationship": frozenset(),
    "brief_point_trust": frozenset(),
    "brief_point_perspective": frozenset(),
    "question_followup": frozenset({"text"}),
    "progress_line": frozenset({"month", "goal", "first", "last"}),
    "progress_line_steady": frozenset({"month", "count"}),
    "progress_chart_caption": frozenset(),
    "progress_chart_title": frozenset(),
    "progress_empty": frozenset(),
    "progress_after_checkin": frozenset(),
    "digest_not_asked_together": frozenset({"client_names"}),
}


class Texts:
    """The texts of one language, rendered with ``render(key, **values)``.

    A key this language lacks is rendered from ``fallback`` (English); only English has none, and is complete.
    Built by ``bot.config.message_files.load_catalog``, which checks keys and placeholders first.
    """

    __slots__ = ("_fallback", "_texts", "language")

    def __init__(self, language: str, texts: Mapping[str, str], fallback: Texts | None = None) -> None:
        if fallback is None and not set(PLACEHOLDERS) <= set(texts):
            raise ValueError(f"texts for '{language}' without a fallback must be complete")
        self.language = language
        self._texts = dict(texts)
        self._fallback = fallback

    def render(self, key: str, **values: object) -> str:
        text = self._texts.get(key)
        if text is None:
            assert self._fallback is not None, key
            return self._fallback.render(key, **values)
        return text.format(**values)

    def date(self, day: date) -> str:
        """A date written out in words, such as "Monday 7 December 2026" or "Montag, 7. Dezember 2026"."""
        weekdays = name_list(self.render("weekday_names"))
        months = name_list(self.render("month_names"))
        return self.render(
            "date", weekday=weekdays[day.weekday()], day=day.day, month=months[day.month - 1], year=day.year
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """The keys this language takes from English, in the order of ``PLACEHOLDERS``."""
        return tuple(key for key in PLACEHOLDERS if key not in self._texts)


class TextCatalog:
    """Every shipped language's texts; ``for_language`` picks a client's, English when there is none."""

    __slots__ = ("_by_language", "_sources", "_warned")

    def __init__(self, languages: Mapping[str, Texts], sources: Mapping[str, str]) -> None:
        """``sources`` names the file each language was read from, for messages about it."""
        if ENGLISH not in languages:
            raise ValueError("a text catalog needs English, the language every other one falls back to")
        self._by_language = dict(languages)
        self._sources = dict(sources)
        self._warned: set[str] = set()

    @property
    def english(self) -> Texts:
        return self._by_language[ENGLISH]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_language))

    def source(self, language: str) -> str:
        return self._sources[language]

    def covers(self, tag: str) -> bool:
        """Whether a client with ``language: tag`` reads texts of their own (rather than English)."""
        return any(candidate in self._by_language for candidate in candidates(tag))

    def for_language(self, tag: str) -> Texts:
        """The texts for ``tag`` (``de-AT`` is read in ``de`` when there is no ``de-at``), else English.

        An unknown language is logged once, not on every message; ``checkin validate`` names the clients.
        """
        for candidate in candidates(tag):
            texts = self._by_language.get(candidate)
            if texts is not None:
                return texts
        if tag not in self._warned:
            self._warned.add(tag)
            log.warning("no texts for language '%s'; English is used", tag)
        return self.english


def name_list(text: str) -> list[str]:
    """The names in a comma-separated list text (``weekday_names``, ``month_names``)."""
    return [name.strip() for name in text.split(",")]
