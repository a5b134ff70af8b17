"""Where the bot's HTTP servers listen and what they allow unless an admin says otherwise, and the file limit the
systemd unit gives the process (issue 15, item 4): loopback by default, limits from ``http_servers``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.slack import HttpSettings
from adapters.telegram import WebhookSettings
from bot.app.platforms import http_limits
from bot.config import load_config
from bot.config.operations import ObservabilityHttp
from bot.config.platforms import SlackHttp, TelegramWebhook
from bot.contract.http_server import DEFAULT_LIMITS, HttpLimits
from tests.test_config import BASE, issues_of, write

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "checkin-bot.service"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder so issues name the file as ``config.yaml``, as an admin would type it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_server_listens_on_loopback_unless_configured() -> None:
    webhook = TelegramWebhook(url="https://bot.example.test/telegram", secret_token="${TELEGRAM_WEBHOOK_SECRET}")
    assert SlackHttp().listen == webhook.listen == ObservabilityHttp().listen == "127.0.0.1"
    assert HttpSettings().listen == WebhookSettings("https://bot.example.test/telegram").listen == "127.0.0.1"


def test_limits_default_and_are_read_from_http_servers() -> None:
    assert http_limits(load_config(write(BASE))) == DEFAULT_LIMITS
    text = (
        "http_servers:\n  header_timeout: 5s\n  idle_timeout: 2m\n  max_connections: 64\n"
        "  max_body_bytes: 131072\n" + BASE
    )
    assert http_limits(load_config(write(text))) == HttpLimits(5.0, 120.0, 64, 131072)


def test_limits_that_would_disarm_the_server_are_refused_at_their_line() -> None:
    text = "http_servers:\n  header_timeout: 1h\n  max_connections: 1\n  max_body_bytes: 1073741824\n" + BASE
    assert issues_of(text) == [
        "config.yaml:2 http_servers.header_timeout: must be between 1s and 10m: long enough for a slow network, "
        "short enough to free",
        "config.yaml:3 http_servers.max_connections: input should be greater than or equal to 8",
        "config.yaml:4 http_servers.max_body_bytes: input should be less than or equal to 67108864",
    ]


def test_the_systemd_unit_gives_room_for_every_server_at_its_cap() -> None:
    [limit] = re.findall(r"^LimitNOFILE=(\d+)$", UNIT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    # Three servers at most (Slack HTTP mode, the Telegram webhook, /healthz and /metrics), plus the database
    # pool, the platform clients and the files the bot writes.
    assert int(limit) >= 3 * DEFAULT_LIMITS.max_connections + 1024
