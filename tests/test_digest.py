"""The coach's digest: what it says, and that it goes out once per period in the coach's own time zone."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Alerts
from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.contract.messages import InboundText
from bot.signals import digest as digest_module
from bot.signals.detectors import load_risk_phrases
from bot.signals.digest import ClientDigest, compose, is_due, period_start
from bot.signals.history import HistoryEntry
from bot.store import Database
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for

DEFAULT = load_builtin_question_sets()["default"]
TEXTS = load_texts()
LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 08:00 in London


def entry(days_ago: int, status: str = "completed", **scores: float) -> HistoryEntry:
    return HistoryEntry("c", MONDAY - timedelta(days=days_ago), status, scores)  # type: ignore[arg-type]


def relationship(value: float) -> dict[str, float]:
    return dict.fromkeys(("hope", "focus", "trust", "perspective", "support"), value)


def test_periods_start_on_monday_morning_in_the_coachs_zone() -> None:
    sunday_night = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert period_start("weekly", sunday_night, LONDON) == date(2026, 11, 16)
    assert not is_due("weekly", MONDAY - timedelta(minutes=1), LONDON)
    assert is_due("weekly", MONDAY, LONDON)
    assert period_start("daily", MONDAY, ZoneInfo("America/Los_Angeles")) == date(2026, 11, 23)
    assert not is_due("daily", MONDAY, ZoneInfo("America/Los_Angeles"))  # midnight there


def test_the_digest_lists_every_client_with_reply_trend_alerts_and_notes() -> None:
    since = MONDAY - timedelta(weeks=1)
    busy_note = HistoryEntry(
        "c",
        MONDAY - timedelta(days=2),
        "completed",
        relationship(4),
        {"note": "Brutal week at home, my father is in hospital."},
    )
    clients = [
        ClientDigest("Dana Whitfield", DEFAULT, [entry(14, **relationship(3)), entry(3, **relationship(4.5))], 0),
        ClientDigest("Sam Okafor", DEFAULT, [entry(14, **relationship(4)), entry(3, status="expired")], 2),
        ClientDigest("Lee Park", DEFAULT, [entry(9, **relationship(4)), busy_note], 0),
        ClientDigest("Priya Nair", DEFAULT, [], 0),
    ]
    text = compose(
        "Maya Chen",
        "weekly",
        since,
        clients,
        settings=Alerts(),
        texts=TEXTS,
        phrases=load_risk_phrases(),
        period=date(2026, 11, 23),
        until=MONDAY,
    )
    lines = text.splitlines()
    assert lines[0] == "Weekly digest for Maya Chen, week of 23 November 2026"
    assert "↑ Dana Whitfield: replied" in lines
    assert "· Sam Okafor: no reply · 2 open alert(s)" in lines
    assert "→ Lee Park: replied" in lines
    assert "· Priya Nair: no check-in this period" in lines
    lee = lines.index("→ Lee Park: replied")
    assert lines[lee + 1] == (
        '    – The note speaks of a hard time outside the coaching: "Brutal week at home, my father is in hospital"'
    )
    assert len(lines) == 6  # no notes for the others


def write_config(tmp_path: Path) -> Path:
    """Maya, a weekly digest in London, and one client of hers, Dana, on Slack."""
    path = tmp_path / "config.yaml"
    path.write_text(
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        'cadences:\n  daily: {every: 1d, at: "09:00"}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}\n"
        "clients:\n  - {id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: daily,"
        " slack: {user_id: U0DANA0001}}\n",
        encoding="utf-8",
    )
    return path


async def test_a_weekly_digest_goes_out_once_per_week(
    database_target: DatabaseTarget, tmp_path: Path, slack: CollectingAdapter
) -> None:
    path = write_config(tmp_path)
    clock = ManualClock(MONDAY - timedelta(days=3))
    runtime = runtime_for(path, database_target.create(), clock, {"slack": slack})
    await runtime.start()
    try:
        await runtime.lifecycle.start_checkin("dana", MONDAY - timedelta(days=3))
        await runtime.inbound.handle(InboundText("slack", "U0DANA0001", "ev-1", "skip all"))
        clock.set(MONDAY - timedelta(minutes=5))
        assert await runtime.housekeeping.send_due_digests() == 0
        clock.set(MONDAY + timedelta(minutes=5))
        assert await runtime.housekeeping.send_due_digests() == 1
        assert await runtime.housekeeping.send_due_digests() == 0  # the next sweep finds it queued
        clock.set(MONDAY + timedelta(days=3))
        assert await runtime.housekeeping.send_due_digests() == 0  # still the same week
        clock.set(MONDAY + timedelta(weeks=1, minutes=1))
        assert await runtime.housekeeping.send_due_digests() == 1
        await runtime.outbox.drain()
    finally:
        await runtime.stop()
    digests = [m for m in slack.to("U0MAYA0001") if m.text.startswith("Weekly digest")]
    assert [d.text.splitlines()[0] for d in digests] == [
        "Weekly digest for Maya Chen, week of 23 November 2026",
        "Weekly digest for Maya Chen, week of 30 November 2026",
    ]
    assert "· Dana Whitfield: no reply" in digests[0].text.splitlines()


def test_the_first_digest_says_no_check_in_once_not_once_per_client() -> None:
    """Issue 13: right after start nobody has been asked yet, and a list of "no check-in this period" lines
    buried whatever else the digest had to say."""
    clients = [
        ClientDigest("Priya Nair", DEFAULT, [], 0),
        ClientDigest("Dana Whitfield", DEFAULT, [entry(3, **relationship(4))], 0),
        ClientDigest("Sam Okafor", DEFAULT, [], 1),
        ClientDigest("Lee Park", DEFAULT, [], 0),
        ClientDigest("Ana Ruiz", DEFAULT, [], 0),
    ]
    text = compose(
        "Maya Chen",
        "weekly",
        MONDAY - timedelta(weeks=1),
        clients,
        settings=Alerts(),
        texts=TEXTS,
        phrases=load_risk_phrases(),
        period=date(2026, 11, 23),
        until=MONDAY,
    )
    assert text.splitlines()[1:] == [
        "· Dana Whitfield: replied",
        "· Sam Okafor: no check-in this period · 1 open alert(s)",  # an open alert is something to say
        "No check-in this period: Ana Ruiz, Lee Park, Priya Nair",
    ]


def test_a_checkin_at_the_periods_first_instant_is_in_it_and_one_after_its_end_is_not() -> None:
    """A weekly check-in often falls on the digest's own hour (Monday 08:00 in the coach's zone): the digest
    that covers that week reports it, and the digest sent that same morning does not report it early."""
    since = MONDAY - timedelta(weeks=1)
    on_the_hour = HistoryEntry("c1", since, "completed", relationship(4), {})
    next_week = HistoryEntry("c2", MONDAY, "completed", relationship(4), {})
    text = compose(
        "Maya Chen",
        "weekly",
        since,
        [ClientDigest("Dana Whitfield", DEFAULT, [on_the_hour], 0), ClientDigest("Lee Park", DEFAULT, [next_week], 0)],
        settings=Alerts(),
        texts=TEXTS,
        phrases=load_risk_phrases(),
        period=date(2026, 11, 23),
        until=MONDAY,
    )
    assert "· Dana Whitfield: replied" in text.splitlines()
    assert "· Lee Park: no check-in this period" in text.splitlines()


async def test_a_digest_is_composed_without_holding_the_write_lock(
    tmp_path: Path, slack: CollectingAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduced before the fix: composing a digest for a coach with 20,000 clients held SQLite's write lock for
    40 s, and the outbox failed with "database is locked" meanwhile. While it is composed now, another connection
    can take the write lock at once."""
    path = write_config(tmp_path)
    database_file = tmp_path / "bot.sqlite3"
    lock_free_while_composing: list[bool] = []

    def composing(*args: Any, **kwargs: Any) -> str:
        other = sqlite3.connect(database_file, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            lock_free_while_composing.append(True)
            other.rollback()
        except sqlite3.OperationalError:
            lock_free_while_composing.append(False)
        finally:
            other.close()
        return compose(*args, **kwargs)

    monkeypatch.setattr(digest_module, "compose", composing)
    clock = ManualClock(MONDAY + timedelta(minutes=5))
    runtime = runtime_for(path, Database(f"sqlite+aiosqlite:///{database_file}"), clock, {"slack": slack})
    await runtime.start()
    try:
        assert await runtime.housekeeping.send_due_digests() == 1
        await runtime.outbox.drain()
    finally:
        await runtime.stop()
    assert lock_free_while_composing == [True]
    assert any(m.text.startswith("Weekly digest for Maya Chen") for m in slack.to("U0MAYA0001"))
