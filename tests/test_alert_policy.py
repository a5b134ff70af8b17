"""The alert policy: severity, cooldown per client and kind, escalation, and the coach's message.

Time comes from a ManualClock, so "three days later" is a line of the test, not a sleep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.alerts import Alerts
from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.signals.alerts import AlertMemory, AlertOutcome, PastAlert, evaluate, severity_of
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal
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
        "• Trust was answered 2 (at or below 2 on a 1–5 scale).",
        'Dana wrote: "Busy week."',
        "For the next session: restate confidentiality and invite them to say what has been hard to say, "
        "without judging or fixing it.",
    ]
    assert outcome.memory.by_kind["low_score"].at == T0


def test_cooldown_then_alert_again_after_it(clock: ManualClock) -> None:
    client = Client(clock)
    assert client.checkin(items(4, trust=2)).alert is not None
    clock.advance(timedelta(days=3))
    assert client.checkin(items(4, trust=2)).alert is None
    clock.advance(timedelta(days=3, hours=23))
    assert client.checkin(items(4, trust=2)).alert is None
    clock.advance(timedelta(hours=1))  # seven days after the alert
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
    assert 'Dana wrote: "Honestly these sessions are not helping."' in outcome.alert.message


def test_context_never_alerts_alone_but_rides_along(clock: ManualClock) -> None:
    client = Client(clock)
    quiet = client.checkin(items(4), {"note": "Brutal week, the layoffs were announced."})
    assert [s.kind for s in quiet.signals] == ["wellbeing"] and quiet.alert is None
    clock.advance(timedelta(days=7))
    outcome = client.checkin(items(4, focus=2), {"note": "Exhausted after the board meeting."})
    assert outcome.alert is not None
    assert [s.kind for s in outcome.alert.signals] == ["low_score", "wellbeing"]
    assert outcome.alert.message.splitlines()[-2].startswith("Context: The note speaks of a hard time")
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
