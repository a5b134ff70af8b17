"""`checkin db upgrade` and `checkin session` (in-process) and `checkin run` (a real process): set-up, refusals
and clear failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.checkin_cli import checkin

CONFIG = """
database: {{url: "{url}"}}
scheduling: {{sweep_interval: 5s}}
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  daily: {{every: 1d, at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: UTC, slack: {{user_id: U0MAYA0001}}}}
clients:
  - {{id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: daily, slack: {{user_id: U0DANA0001}}}}
"""


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    return path


def checkin_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_db_upgrade_creates_the_schema_and_says_its_revision(tmp_path: Path) -> None:
    database = tmp_path / "checkin.sqlite3"
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{database}")
    result = checkin("db", "upgrade", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith("schema at revision 0011")
    assert database.exists()
    again = checkin("db", "upgrade", "--config", str(config))
    assert again.exit_code == 0
    assert "revision 0011" in again.stdout


def test_an_unset_database_variable_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, "${CHECKIN_TEST_UNSET_URL}")
    result = checkin("db", "upgrade", "--config", str(config))
    assert result.exit_code == 2
    assert "CHECKIN_TEST_UNSET_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, "${CHECKIN_TEST_DEAD_URL}")
    dead = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    result = checkin("db", "upgrade", "--config", str(config), env={"CHECKIN_TEST_DEAD_URL": dead})
    assert result.exit_code == 69
    assert result.stderr.startswith("database postgresql+asyncpg://postgres@127.0.0.1:1/nowhere: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.process
def test_run_names_a_missing_platform_token(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    result = checkin_process("run", "--config", str(config), env={"SLACK_BOT_TOKEN": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "platforms.slack.bot_token: environment variable SLACK_BOT_TOKEN is not set "
        "(the config refers to ${SLACK_BOT_TOKEN})"
    )


@pytest.mark.process
def test_run_answers_a_client_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--console", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(60, process.kill)  # a hung bot fails the test instead of hanging it
    watchdog.start()
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write("dana: help\nstranger: hello\n")
        process.stdin.flush()
        expected = {"[to client dana]: You can answer with the buttons", "[to stranger stranger]: Hello! This is"}
        seen: list[str] = []
        while expected and (line := process.stdout.readline()):
            seen.append(line)
            expected = {e for e in expected if not line.startswith(e)}
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    assert not expected, "".join(seen)
    assert process.returncode == 0, err
    assert "Traceback" not in err + out


def test_a_recorded_session_is_kept_once(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    first = checkin("session", "dana", "2026-11-30", "--config", str(config))
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == "dana: session on Mon 2026-11-30 recorded"
    again = checkin("session", "dana", "2026-11-30", "--config", str(config))
    assert again.stdout.strip() == "dana: session on Mon 2026-11-30 was already recorded"
    bad_date = checkin("session", "dana", "30/11/2026", "--config", str(config))
    assert bad_date.exit_code == 2
    assert "'30/11/2026' is not a date; write it as YYYY-MM-DD" in bad_date.stderr
    unknown = checkin("session", "dnaa", "2026-11-30", "--config", str(config))
    assert unknown.exit_code == 2
    assert "did you mean 'dana'?" in unknown.stderr
