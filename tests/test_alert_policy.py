"""The alert policy: severity, cooldown per client and kind, escalation, and the coach's message.

Time comes from a ManualClock, so "three days later" is a line of the test, not a sleep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.alerts import Alerts
from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.conversation.texts import PLACEHOLDERS
from bot.signals.alerts import AlertMemory, AlertOutcome, PastAlert, evaluate, severity_of
from bot.signals.history import HistoryEntry
from bot.signals.quoting import quote
from bot.signals.signal import Signal
from bot.signals.themes import SuggestionThemesError, load_themes, parse_themes
from bot.timing.clock import ManualClock

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
ITEMS = ("hope", "focus", "trust", "perspective", "support")
TEXTS = load_texts()
DEFAULT = load_builtin_question_sets()["default"]
SETTINGS = Alerts()


class Client:
    """One client's history and alert memory, advanced a check-in at a time as the runtime would."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.history: list[HistoryEntry] = []
        self.memory = AlertMemory()

    def checkin(self, scores: Mapping[str, float], texts: Mapping[str, str] | None = None) -> AlertOutcome:
        self.history.append(HistoryEntry("dana", self.clock.now(), "completed", scores, texts or {}))
        outcome = evaluate(
            self.history,
            settings=SETTINGS,
            question_set=DEFAULT,
            texts=TEXTS,
            client_name="Dana",
            previous=self.memory,
            now=self.clock.now(),
        )
        self.memory = outcome.memory
        return outcome


def items(value: float, **overrides: float) -> dict[str, float]:
    return {item: overrides.get(item, value) for item in ITEMS}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def test_nothing_to_say_means_no_alert(clock: ManualClock) -> None:
    client = Client(clock)
    outcome = client.checkin(items(4))
    assert outcome.alert is None and outcome.signals == () and outcome.memory == AlertMemory()


def test_watch_alert_message(clock: ManualClock) -> None:
    outcome = Client(clock).checkin(items(4, trust=2), {"note": "Busy week."})
    assert outcome.alert is not None
    assert outcome.alert.severity == "watch"
    assert outcome.alert.message.splitlines() == [
        "Check-in alert for Dana (watch)",
        "What changed: trust 2 (floor 2) on 3 Mar.",
        "Why it matters: without trust a client brings only the safe topics, and the real issue stays outside "
        "the room.",
        "For the next session: restate confidentiality and invite them to say what has been hard to say, "
        "without judging or fixing it.",
        "Dana wrote (note): “Busy week.”",
    ]
    assert outcome.memory.by_kind["low_score"].at == T0


def test_cooldown_then_alert_again_after_it(clock: ManualClock) -> None:
    client = Client(clock)
    assert client.checkin(items(4, trust=2)).alert is not None
    clock.advance(timedelta(days=3))
    assert client.checkin(items(4, trust=2)).alert is None
    clock.advance(timedelta(days=7))  # a weekly client's next check-in: the same answer is not news
    assert client.checkin(items(4, trust=2)).alert is None
    clock.advance(timedelta(days=3, hours=23))
    assert client.checkin(items(4, trust=2)).alert is None
    clock.advance(timedelta(hours=1))  # fourteen days after the alert
    assert client.checkin(items(4, trust=2)).alert is not None


def test_escalation_to_urgent_alerts_within_the_cooldown(clock: ManualClock) -> None:
    client = Client(clock)
    client.checkin(items(4, trust=2))
    clock.advance(timedelta(days=1))
    outcome = client.checkin(items(4, trust=1))
    assert outcome.alert is not None and outcome.alert.severity == "urgent"
    clock.advance(timedelta(days=1))
    assert client.checkin(items(4, trust=1)).alert is None  # urgent again is not worse than urgent


def test_a_lower_score_is_worse_only_by_half_a_point(clock: ManualClock) -> None:
    memory = AlertMemory.from_alerts([PastAlert(T0, "watch", [{"kind": "drop", "value": 3.0}])])
    history = [HistoryEntry("dana", T0 + timedelta(weeks=n), "completed", items(4.4)) for n in range(6)]

    def alert_at(index: float) -> bool:
        latest = HistoryEntry("dana", T0 + timedelta(days=44), "completed", items(index))
        outcome = evaluate(
            [*history, latest],
            settings=SETTINGS,
            question_set=DEFAULT,
            texts=TEXTS,
            client_name="Dana",
            previous=memory,
            now=T0 + timedelta(days=2),
        )
        assert [s.kind for s in outcome.signals] == ["drop"]
        return outcome.alert is not None

    assert not alert_at(2.8)
    assert alert_at(2.4)


def test_a_new_kind_alerts_within_the_cooldown(clock: ManualClock) -> None:
    client = Client(clock)
    client.checkin(items(4, trust=2))
    clock.advance(timedelta(days=1))
    outcome = client.checkin(items(4, trust=2), {"note": "Honestly these sessions are not helping."})
    assert outcome.alert is not None
    assert [s.kind for s in outcome.alert.signals] == ["low_score", "words"]
    assert outcome.alert.severity == "urgent"  # two practices, two detectors
    assert "Dana wrote (note), read as a warning sign: “Honestly these sessions are not helping.”" in (
        outcome.alert.message.splitlines()
    )


def test_context_never_alerts_alone_but_rides_along(clock: ManualClock) -> None:
    client = Client(clock)
    quiet = client.checkin(items(4), {"note": "Brutal week, the layoffs were announced."})
    assert [s.kind for s in quiet.signals] == ["wellbeing"] and quiet.alert is None
    clock.advance(timedelta(days=7))
    outcome = client.checkin(items(4, focus=2), {"note": "Exhausted after the board meeting."})
    assert outcome.alert is not None
    assert [s.kind for s in outcome.alert.signals] == ["low_score", "wellbeing"]
    lines = outcome.alert.message.splitlines()
    # The context comes right before what to do, then the client's words (the note the context speaks of).
    assert lines[-3].startswith("Context: The note speaks of a hard time")
    assert lines[-1] == "Dana wrote (note): “Exhausted after the board meeting.”"
    assert "wellbeing" not in outcome.memory.by_kind


def test_severity() -> None:
    watch = Signal("low_score", "trust", "r", "trust", 2)
    assert severity_of([]) is None
    assert severity_of([Signal("wellbeing", "relationship", "r")]) is None
    assert severity_of([watch]) == "watch"
    assert severity_of([Signal("low_score", "trust", "r", "trust", 1, bottom=True)]) == "urgent"
    assert severity_of([watch, Signal("low_score", "hope", "r", "hope", 2)]) == "urgent"
    assert severity_of([watch, Signal("drop", "trust", "r", "trust", 3.0)]) == "urgent"


def test_memory_rebuilt_from_stored_alerts(clock: ManualClock) -> None:
    outcome = Client(clock).checkin(items(4, trust=2, hope=1))
    assert outcome.alert is not None
    stored = PastAlert(T0, outcome.alert.severity, outcome.alert.records())
    older = PastAlert(T0 - timedelta(days=30), "watch", [{"kind": "words", "practice": "hope", "reason": "r"}])
    memory = AlertMemory.from_alerts([stored, older])
    assert memory.by_kind["low_score"].value == 1 and memory.by_kind["low_score"].severity == "urgent"
    assert memory.by_kind["words"].value is None
    assert memory.by_kind["low_score"] == outcome.memory.by_kind["low_score"]


def test_detector_settings_from_yaml_shape() -> None:
    settings = Alerts.model_validate({"cooldown": "14d", "drop": {"z": 2.5}, "words": {"enabled": False}})
    assert settings.cooldown == timedelta(days=14) and settings.drop.z == 2.5 and settings.drop.baseline == 8
    assert not settings.words.enabled and settings.withdrawal.in_a_row == 3
    with pytest.raises(ValueError, match="min_history cannot be larger than baseline"):
        Alerts.model_validate({"drop": {"baseline": 3, "min_history": 4}})
    with pytest.raises(ValueError, match="Extra inputs"):
        Alerts.model_validate({"drop": {"zz": 1}})


def weeks_of(client: Client, clock: ManualClock, count: int, scores: Mapping[str, float]) -> None:
    """``count`` weekly check-ins with nothing to say, the clock a week on after each."""
    for _ in range(count):
        assert client.checkin(scores).alert is None
        clock.advance(timedelta(weeks=1))


def test_what_changed_names_the_previous_answer_and_the_usual_one_with_dates(clock: ManualClock) -> None:
    client = Client(clock)
    weeks_of(client, clock, 3, items(4))
    client.checkin(items(4, trust=5))
    clock.advance(timedelta(weeks=1))
    outcome = client.checkin(items(4, trust=2))
    assert outcome.alert is not None
    assert outcome.alert.message.splitlines()[1] == (
        "What changed: trust 2 (floor 2) on 31 Mar; before: 5 on 24 Mar; usually 4."
    )


def test_several_low_answers_collapse_into_one_line(clock: ManualClock) -> None:
    client = Client(clock)
    weeks_of(client, clock, 2, items(4, focus=3))
    outcome = client.checkin(items(4, trust=2, support=2, focus=2))
    assert outcome.alert is not None
    lines = outcome.alert.message.splitlines()
    assert lines[1] == (
        "What changed: focus 2, trust 2, support 2 (floor 2) on 17 Mar; before: 3, 4, 4 on 10 Mar; usually 3, 4, 4."
    )
    assert not any("was answered" in line for line in lines)


def test_the_suggestion_follows_what_the_client_wrote_before_the_practice(clock: ManualClock) -> None:
    plain = Client(clock).checkin(items(4, perspective=2))
    assert plain.alert is not None
    assert plain.alert.message.splitlines()[-1] == f"For the next session: {TEXTS.render('suggest_perspective')}"
    cancelled = Client(clock).checkin(items(4, perspective=2), {"note": "You cancelled our last two sessions."})
    assert cancelled.alert is not None
    assert f"For the next session: {TEXTS.render('suggest_theme_priority')}" in cancelled.alert.message.splitlines()
    assert "advice about reliability" not in TEXTS.render("suggest_perspective")  # the two really differ
    assert TEXTS.render("suggest_theme_priority") != TEXTS.render("suggest_perspective")


def test_why_it_matters_is_about_the_weakest_practice(clock: ManualClock) -> None:
    outcome = Client(clock).checkin(items(4, hope=2, trust=1))
    assert outcome.alert is not None
    assert f"Why it matters: {TEXTS.render('why_trust')}" in outcome.alert.message.splitlines()


def test_only_urgent_alerts_say_to_reach_out_before_the_next_session(clock: ManualClock) -> None:
    reach_out = TEXTS.render("coach_alert_reach_out", client_name="Dana")
    watch = Client(clock).checkin(items(4, trust=2))
    urgent = Client(clock).checkin(items(4, trust=1))
    assert watch.alert is not None and urgent.alert is not None
    assert reach_out not in watch.alert.message
    assert urgent.alert.severity == "urgent" and urgent.alert.message.splitlines()[-1] == reach_out
    assert reach_out.startswith("Urgent: reach out to Dana before the next session")


def test_each_answer_is_quoted_once_and_names_its_question(clock: ManualClock) -> None:
    note = "Honestly these sessions are not helping. Brutal week, the layoffs were announced."
    outcome = Client(clock).checkin(items(4, trust=2), {"note": note, "repair": "Listen more."})
    assert outcome.alert is not None
    message = outcome.alert.message
    # The note reads as doubting the value, the repair as not being listened to: one words signal each.
    assert [s.kind for s in outcome.alert.signals] == ["low_score", "words", "words", "wellbeing"]
    assert message.count("not helping") == 1 and message.count("Brutal week") == 1
    assert message.count("Listen more.") == 1
    lines = message.splitlines()
    assert f"Dana wrote (note), read as a warning sign: “{note}”" in lines
    assert "Dana wrote (repair), read as a warning sign: “Listen more.”" in lines
    assert "Context: The note speaks of a hard time outside the coaching (quoted below)." in lines
    assert lines[-2:] == [
        "Dana wrote (repair), read as a warning sign: “Listen more.”",
        f"Dana wrote (note), read as a warning sign: “{note}”",
    ]


def test_a_continuing_slide_is_a_short_update_not_a_new_alert(clock: ManualClock) -> None:
    client = Client(clock)
    first = client.checkin(items(4, trust=2))
    assert first.alert is not None and not first.alert.update
    clock.advance(timedelta(days=2))
    assert client.checkin(items(4, trust=2)).alert is None  # the cooldown holds: nothing new
    clock.advance(timedelta(days=2))
    worse = client.checkin(items(4, trust=1.5))  # lower by half a point, still one practice
    assert worse.alert is not None and worse.alert.update
    assert worse.alert.severity == "watch"
    assert worse.alert.message.splitlines() == [
        "Still declining: Dana (watch), since the alert of 3 Mar.",
        "What changed: trust 1.5 (floor 2) on 7 Mar; before: 2 on 5 Mar; usually 2.",
    ]
    assert worse.memory.by_kind["low_score"].value == 1.5  # the next update compares with this one
    clock.advance(timedelta(days=1))
    escalated = client.checkin(items(4, trust=1))  # the very bottom: urgent, which is news, not an update
    assert escalated.alert is not None and not escalated.alert.update
    assert escalated.alert.message.startswith("Check-in alert for Dana (urgent)")
    clock.advance(SETTINGS.cooldown)
    again = client.checkin(items(4, trust=1))
    assert again.alert is not None and not again.alert.update  # after the cooldown it is a new alert


def test_a_note_cannot_forge_lines_in_the_alert(clock: ManualClock) -> None:
    note = (
        "fine\n• Trust was answered 5 (all good)\r\n> For the next session: nothing to do\u2028"
        "\u202eevil\u202c \u2066x\u2069 zero\u200bwidth\u200d \x1b[31mred ```\ncode\n```"
    )
    outcome = Client(clock).checkin(items(4, trust=2), {"note": note})
    assert outcome.alert is not None
    lines = outcome.alert.message.splitlines()
    assert len(lines) == 5 and lines[0] == "Check-in alert for Dana (watch)"
    bot_starts = ("What changed:", "Why it matters:", "Dana wrote (note): “", "For the next session:")
    assert all(line.startswith(bot_starts) for line in lines[1:])
    assert lines[4] == (
        "Dana wrote (note): “fine / • Trust was answered 5 (all good) / > For the next session: nothing to do / "
        "evil x zerowidth [31mred ` / code / `”"
    )


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        (
            "one\ntwo\r\nthree\rfour\x85five\u2028six\u2029seven\vend",
            "one / two / three / four / five / six / seven / end",
        ),
        ("\u202aa\u202bb\u202cc\u202dd\u202ee\u2066f\u2067g\u2068h\u2069i\u200ej\u200fk\u061cl", "abcdefghijkl"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),
        ("tab\tand\x00nul\x07bell", "tab andnulbell"),
        ("  \n\n  spaced   out  \n ", "spaced out"),
        ("```fence``` and ``double``", "`fence` and `double`"),
        ("> not a block quote", "> not a block quote"),
        ("", ""),
    ],
)
def test_quote_keeps_the_words_on_one_line(text: str, quoted: str) -> None:
    assert quote(text) == quoted


def test_every_theme_has_its_suggestion_and_a_theme_needs_one() -> None:
    assert set(load_themes().keywords) == {
        key.removeprefix("suggest_theme_") for key in PLACEHOLDERS if key.startswith("suggest_theme_")
    }
    assert load_themes().find(["Ich fühle mich nicht gehört.", "ok"]) == "unheard"
    assert load_themes().find(["We rescheduled, fine."]) == "priority"
    assert load_themes().find(["A calm week."]) is None
    with pytest.raises(SuggestionThemesError, match="no text suggest_theme_weather"):
        parse_themes("themes: {weather: {en: [rain]}}")
    with pytest.raises(SuggestionThemesError, match="keywords per language"):
        parse_themes("themes: {priority: [cancel]}")


#: A note that tries every way of passing for the bot's own lines; the adapter tests send its alert.
FORGED_NOTE = (
    "fine\n• Trust was answered 5 (all good)\r\n> For the next session: nothing to do\u2028\u202eevil\u202c "
    "*bold* _it_ ~gone~ ```\ncode\n``` <!channel> <@U0MAYA0001> & \u200bzero\x1b[31m"
)
#: How each line of that alert begins: the bot's words, never the client's.
FORGED_ALERT_STARTS = (
    "Check-in alert for Dana",
    "What changed:",
    "Why it matters:",
    "For the next session:",
    "Dana wrote (note): “",
)


def forged_note_alert() -> str:
    """The alert a coach gets for a low trust answer with ``FORGED_NOTE``."""
    outcome = Client(ManualClock(T0)).checkin(items(4, trust=2), {"note": FORGED_NOTE})
    assert outcome.alert is not None
    return outcome.alert.message


def test_the_forged_note_alert_keeps_one_quote_line() -> None:
    lines = forged_note_alert().splitlines()
    assert [line.startswith(start) for line, start in zip(lines, FORGED_ALERT_STARTS, strict=True)] == [True] * 5
    assert lines[-1] == (
        "Dana wrote (note): “fine / • Trust was answered 5 (all good) / > For the next session: nothing to do / evil "
        "*bold* _it_ ~gone~ ` / code / ` <!channel> <@U0MAYA0001> & zero[31m”"
    )


#: Dana's last check-ins, twice a week: steady, then a slide with a note about cancelled sessions, then lower.
GUIDE_WEEKS: tuple[tuple[dict[str, float], dict[str, str]], ...] = (
    (items(4, trust=5), {}),
    (items(4), {}),
    (items(4, trust=5), {}),
    (items(4), {"note": "Good session on delegation."}),
    (items(4, trust=3, focus=3), {}),
    (
        items(4, trust=2, support=2, focus=2),
        {
            "repair": "Keep the dates we agree.",
            "note": "You cancelled twice this month.\nI'm not sure these sessions are helping.",
        },
    ),
    (items(4, trust=1, support=2, focus=2), {}),
)


def guide_alerts() -> list[str]:
    """What Dana's coach is told over ``GUIDE_WEEKS``: the example docs/coach-guide.md shows."""
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    client = Client(clock)
    client.history = []
    told: list[str] = []
    for scores, texts in GUIDE_WEEKS:
        outcome = client.checkin(scores, texts)
        if outcome.alert is not None:
            told.append(outcome.alert.message)
        clock.advance(timedelta(days=3 if clock.now().weekday() == 0 else 4))
    return told


def test_the_coach_guide_shows_the_alerts_as_the_bot_writes_them() -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "coach-guide.md").read_text(encoding="utf-8")
    shown = guide.split("<!-- generated: guide_alerts -->\n```text\n", 1)[1].split("```", 1)[0]
    assert shown == "\n\n".join(guide_alerts()) + "\n"


def test_a_theme_the_words_detector_names_comes_before_keywords() -> None:
    themes = load_themes()
    cancelled = ["You cancelled twice and never listen."]
    assert themes.pick([], cancelled) == "priority"
    named = Signal("words", "focus", "r", "note", None, words="never listen", theme="unheard")
    assert themes.pick([named], cancelled) == "unheard"
    unknown = Signal("words", "focus", "r", "note", None, words="never listen", theme="weather")
    assert themes.pick([unknown], cancelled) == "priority"  # no suggestion of its own: the keywords decide
