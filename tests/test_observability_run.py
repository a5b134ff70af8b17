"""`checkin run` with ``observability.http``: JSON log lines, /healthz and /metrics of the real process.

A client is made due the way the replica test does it: the database is seeded as if they had been added an hour
before a slot that passed half an hour ago, so the start-up catch-up sends their check-in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import Database
from bot.timing.clock import ManualClock
from tests.fakes import runtime_for

pytestmark = pytest.mark.process


@pytest.fixture
def database_url(cli_database_url: str) -> str:
    """A SQLite file, or a fresh PostgreSQL database: `checkin run` takes its URL from config, so no schema."""
    return cli_database_url


def http_get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, response.read().decode()


@pytest.fixture
async def due_config(tmp_path: Path, database_url: str) -> Path:
    """A config with one client owed a check-in and the server on port 0: the bot binds a free port itself and
    logs which, so no other process can take it between a test's choosing and the bot's binding."""
    slot = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{database_url}'}}\n"
        "observability: {log_format: text, http: {listen: 127.0.0.1, port: 0}}\n"
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        f'cadences:\n  daily: {{every: 1d, at: "{slot:%H:%M}"}}\n'
        "coaches:\n  - {id: maya, name: Maya Chen, timezone: UTC, slack: {user_id: U0MAYA0001}}\n"
        "clients:\n  - {id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: daily,"
        " slack: {user_id: U0DANA0001}}\n",
        encoding="utf-8",
    )
    seeding = runtime_for(config, Database(database_url), ManualClock(slot - timedelta(hours=1)), {})
    await seeding.start()
    await seeding.stop()
    return config


SERVED = re.compile(r"^health and metrics served on 127\.0\.0\.1:(\d+) ")


def test_run_serves_health_and_metrics_and_logs_json(due_config: Path) -> None:
    config = due_config
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--console", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CHECKIN_LOG_FORMAT": "json"},  # overrides the config's text
    )
    # A hung bot fails the test instead of hanging it; generous, since a loaded machine slows start and stop alike.
    watchdog = threading.Timer(180, process.kill)
    watchdog.start()
    try:
        assert process.stderr is not None
        logged: list[dict[str, str]] = []
        while not any(line["message"].startswith("checkin-bot running as") for line in logged):
            line = process.stderr.readline()
            assert line, "the bot exited before it was running"
            logged.append(json.loads(line))
        [port] = [int(m.group(1)) for line in logged if (m := SERVED.match(line["message"]))]
        # The start-up catch-up has claimed Dana's check-in, and the scheduler runs.
        assert http_get(port, "/healthz") == (200, "ok")
        status, metrics = http_get(port, "/metrics")
        assert status == 200
        assert "checkin_checkins_sent_total 1.0" in metrics.splitlines()
        assert any(line.startswith("checkin_outbox_depth ") for line in metrics.splitlines())
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest  # -9: the watchdog killed a bot that did not stop
    logged += [json.loads(line) for line in rest.splitlines()]
    assert all(set(line) <= {"time", "level", "logger", "message", "exception"} for line in logged)
    assert [line for line in logged if "exception" in line] == []


def test_a_port_in_use_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}'}}\n"
            f"observability: {{http: {{port: {port}}}}}\n"
            'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
            "coaches:\n  - {id: maya, name: Maya Chen, timezone: UTC, slack: {user_id: U0MAYA0001}}\n",
            encoding="utf-8",
        )
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "run", "--console", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 69
    [line] = [line for line in result.stderr.splitlines() if line.startswith("checkin:")]
    assert line.startswith(f"checkin: observability.http: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr
