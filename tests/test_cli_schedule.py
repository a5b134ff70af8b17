"""``checkin schedule``: the listing at a fixed instant, and the command as an admin runs it (in-process)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.config.yamlsource import SourceDocument, read_mapping
from bot.scheduling.client_schedule import UnknownClientError
from bot.scheduling.report import quiet_hour_warnings, schedule_report, session_notes
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


def test_command_lists_the_clients(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", cwd=tmp_path)
    assert (result.exit_code, result.stderr) == (0, "")
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


def test_command_for_one_client_with_a_count(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", "--client", "dana", "--next", "2", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    header, *slots = result.stdout.splitlines()
    assert header == "dana (Europe/Paris, cadence weekly)"
    assert len(slots) == 2 and all(_SLOT_LINE.match(line) for line in slots)
    assert all(line.startswith("  Thu ") for line in slots)


def test_unknown_client_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("schedule", "--client", "dnaa", cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "checkin schedule: unknown client 'dnaa' (did you mean 'dana'?)\n"


def test_invalid_config_and_bad_count_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(CONFIG.replace("on: [mon]", "on: []"), encoding="utf-8")
    result = run("schedule", "--config", "bad.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "bad.yaml:17 clients[1].cadence_overrides: with these overrides of cadence 'weekly': "
        "this cadence never fires (no slot in the four years)"
    ]
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    assert run("schedule", "--next", "0", cwd=tmp_path).exit_code == 2


def test_validate_prints_the_session_note(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = run("validate", env={"TELEGRAM_BOT_TOKEN": "123:abc"}, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "config.yaml: OK — 1 coach, 5 clients, 3 cadences, 1 question set"
    assert any(
        line.startswith("note: noah: cadence 'after' follows coaching sessions") and line.endswith("(none yet)")
        for line in lines[1:]
    )


QUIET = """\
platforms:
  telegram:
    bot_token: ${TELEGRAM_BOT_TOKEN}
cadences:
  evenings: {every: 1w, on: [mon], at: "18:00", quiet_hours: {start: "21:00", end: "08:00"}}
coaches:
  - {id: maya, name: Maya, timezone: Europe/London, telegram: {}}
clients:
  - {id: dana, name: Dana, coach: maya, timezone: Europe/Paris, cadence: evenings, telegram: {}}
  - id: lee
    name: Lee
    coach: maya
    timezone: Europe/Paris
    cadence: evenings
    cadence_overrides:
      on: [mon, thu]
      at: "22:30"
    telegram: {}
  - id: sam
    name: Sam
    coach: maya
    timezone: Europe/Paris
    cadence: evenings
    cadence_overrides: {at: "19:00"}
    telegram: {}
"""


@pytest.fixture
def quiet(tmp_path: Path) -> tuple[Config, SourceDocument]:
    path = tmp_path / "config.yaml"
    path.write_text(QUIET, encoding="utf-8")
    return load_config(path), read_mapping(path, "config.yaml")


def test_schedule_marks_the_slots_quiet_hours_moved(quiet: tuple[Config, SourceDocument]) -> None:
    config, _ = quiet
    assert schedule_report(config, NOW, client_id="lee", count=3) == [
        "lee (Europe/Paris, cadence evenings; overrides: on, at)",
        "  Fri 2026-11-27 08:00 CET   = 2026-11-27 07:00 UTC  (moved by quiet hours from Thu 22:30)",
        "  Tue 2026-12-01 08:00 CET   = 2026-12-01 07:00 UTC  (moved by quiet hours from Mon 22:30)",
        "  Fri 2026-12-04 08:00 CET   = 2026-12-04 07:00 UTC  (moved by quiet hours from Thu 22:30)",
    ]
    assert schedule_report(config, NOW, client_id="sam", count=1) == [
        "sam (Europe/Paris, cadence evenings; overrides: at)",
        "  Mon 2026-11-30 19:00 CET   = 2026-11-30 18:00 UTC",
    ]


def test_validate_warns_of_an_override_quiet_hours_move(quiet: tuple[Config, SourceDocument]) -> None:
    config, document = quiet
    assert [str(warning) for warning in quiet_hour_warnings(config, document, NOW)] == [
        "config.yaml:17 clients[1].cadence_overrides.at: lee's check-ins planned at 22:30 by this override fall "
        "in the quiet hours of cadence 'evenings' (21:00 to 08:00) and are sent at 08:00 the next day"
    ]


def test_validate_leaves_out_times_the_named_cadence_already_puts_in_quiet_hours(tmp_path: Path) -> None:
    text = QUIET.replace('at: "18:00"', 'at: "22:00"').replace('{at: "19:00"}', "{on: [fri]}")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    warnings = quiet_hour_warnings(load_config(path), read_mapping(path, "config.yaml"), NOW)
    assert [warning.path for warning in warnings] == ["clients[1].cadence_overrides.at"]


def test_validate_prints_the_quiet_hours_warning(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(QUIET, encoding="utf-8")
    result = run("validate", cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": "123:abc"})
    assert result.exit_code == 0, result.stderr
    assert "warning: config.yaml:17 clients[1].cadence_overrides.at: lee's check-ins planned at 22:30" in result.stdout
