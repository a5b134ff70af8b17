"""``checkin schedule``: the listing at a fixed instant, and the real command in a subprocess."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.scheduling.client_schedule import UnknownClientError
from bot.scheduling.report import schedule_report, session_notes
from tests.test_cli_validate import run

CONFIG = """\
platforms:
  telegram:
    bot_token: ${TELEGRAM_BOT_TOKEN}
cadences:
  weekly: {every: 1w, on: [thu], at: "09:30"}
  after: {after_sessions: {days: 3, at: "09:00"}}
  later: {every: 1d, at: "09:00", start: 2990-01-01}
coaches:
  - {id: maya, name: Maya, timezone: Europe/London, telegram: {}}
clients:
  - {id: dana, name: Dana, coach: maya, timezone: Europe/Paris, cadence: weekly, telegram: {}}
  - id: lee
    name: Lee
    coach: maya
    timezone: Asia/Kathmandu
    cadence: weekly
    cadence_overrides: {on: [mon], at: "08:30"}
    paused_until: 2026-11-30
    pauses: [{from: 2026-12-07, to: 2026-12-13}, {from: 2026-01-01, to: 2026-01-02}]
    telegram: {}
  - id: priya
    name: Priya
    coach: maya
    timezone: America/New_York
    cadence: after
    sessions: [2026-11-02, 2026-11-30]
    telegram: {}
  - {id: noah, name: Noah, coach: maya, timezone: UTC, cadence: after, telegram: {}}
  - {id: ines, name: Ines, coach: maya, timezone: Europe/Lisbon, cadence: later, telegram: {}}
"""

#: A Tuesday evening; times in this file are worked out by hand from it.
NOW = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def test_every_client_with_local_time_utc_and_reasons(config: Config) -> None:
    assert schedule_report(config, NOW, count=3) == [
        "dana (Europe/Paris, cadence weekly)",
        "  Thu 2026-11-26 09:30 CET   = 2026-11-26 08:30 UTC",
        "  Thu 2026-12-03 09:30 CET   = 2026-12-03 08:30 UTC",
        "  Thu 2026-12-10 09:30 CET   = 2026-12-10 08:30 UTC",
        "",
        "lee (Asia/Kathmandu, cadence weekly; overrides: on, at)",
        "  paused until Mon 2026-11-30 00:00 +0545",
        "  no check-ins from 2026-12-07 to 2026-12-13 (pause)",
        "  Mon 2026-11-30 08:30 +0545 = 2026-11-30 02:45 UTC",
        "  Mon 2026-12-14 08:30 +0545 = 2026-12-14 02:45 UTC",
        "  Mon 2026-12-21 08:30 +0545 = 2026-12-21 02:45 UTC",
        "",
        "priya (America/New_York, cadence after)",
        "  Thu 2026-12-03 09:00 EST   = 2026-12-03 14:00 UTC",
        "  no more check-ins: the cadence follows coaching sessions and the last one recorded is 2026-11-30",
        "",
        "noah (UTC, cadence after)",
        "  no check-ins: the cadence follows coaching sessions and none is recorded",
        "",
        "ines (Europe/Lisbon, cadence later)",
        "  no check-ins in the next four years: the cadence starts on 2990-01-01",
    ]


def test_one_client(config: Config) -> None:
    assert schedule_report(config, NOW, client_id="dana", count=1) == [
        "dana (Europe/Paris, cadence weekly)",
        "  Thu 2026-11-26 09:30 CET   = 2026-11-26 08:30 UTC",
    ]
    with pytest.raises(UnknownClientError, match=r"unknown client 'prya' \(did you mean 'priya'\?\)"):
        schedule_report(config, NOW, client_id="prya")


def test_validate_notes_session_cadences_without_an_upcoming_session(config: Config) -> None:
    assert session_notes(config, NOW) == [
        "note: noah: cadence 'after' follows coaching sessions, but no session on or after 2026-11-24 is listed "
        "(none yet)"
    ]
    # Still 1 December in New York: her session on 30 November is over.
    assert session_notes(config, datetime(2026, 12, 2, 3, tzinfo=UTC))[0] == (
        "note: priya: cadence 'after' follows coaching sessions, but no session on or after 2026-12-01 is listed "
        "(last: 2026-11-30)"
    )


_SLOT_LINE = re.compile(
    r"^  (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d\d-\d\d \d\d:\d\d \S+ +  ?= \d{4}-\d\d-\d\d \d\d:\d\d UTC$"
)


@pytest.mark.process
def test_command_lists_the_clients(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    blocks = [block.splitlines() for block in result.stdout.split("\n\n")]
    assert [block[0] for block in blocks] == [
        "dana (Europe/Paris, cadence weekly)",
        "lee (Asia/Kathmandu, cadence weekly; overrides: on, at)",
        "priya (America/New_York, cadence after)",
        "noah (UTC, cadence after)",
        "ines (Europe/Lisbon, cadence later)",
    ]
    dana = blocks[0][1:]
    assert len(dana) == 5
    assert all(_SLOT_LINE.match(line) for line in dana), dana
    assert blocks[3][1:] == ["  no check-ins: the cadence follows coaching sessions and none is recorded"]
    assert blocks[4][1:] == ["  no check-ins in the next four years: the cadence starts on 2990-01-01"]


@pytest.mark.process
def test_command_for_one_client_with_a_count(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", "--client", "dana", "--next", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, *slots = result.stdout.splitlines()
    assert header == "dana (Europe/Paris, cadence weekly)"
    assert len(slots) == 2 and all(_SLOT_LINE.match(line) for line in slots)
    assert all(line.startswith("  Thu ") for line in slots)


@pytest.mark.process
def test_unknown_client_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", "--client", "dnaa", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "checkin schedule: unknown client 'dnaa' (did you mean 'dana'?)\n"


@pytest.mark.process
def test_invalid_config_and_bad_count_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(CONFIG.replace("on: [mon]", "on: []"), encoding="utf-8")
    result = run("schedule", "--config", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bad.yaml:17 clients[1].cadence_overrides: with these overrides of cadence 'weekly': "
        "this cadence never fires (no slot in the four years)"
    ]
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    assert run("schedule", "--next", "0", cwd=tmp_path).returncode == 2


@pytest.mark.process
def test_validate_prints_the_session_note(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("validate", cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": "123:abc"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "config.yaml: OK — 1 coach, 5 clients, 3 cadences, 1 question set"
    assert any(
        line.startswith("note: noah: cadence 'after' follows coaching sessions") and line.endswith("(none yet)")
        for line in lines[1:]
    )
