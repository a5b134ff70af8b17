"""The ``observability`` section of config.yaml: defaults, and each bad value reported at its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from tests.test_config import BASE, issues_of, write


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder so issues name the file as ``config.yaml``, as an admin would type it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_logs_at_info_and_no_server_by_default() -> None:
    observability = load_config(write(BASE)).observability
    assert (observability.log_format, observability.log_level, observability.http) == ("text", "INFO", None)


def test_json_logs_and_a_server_with_its_defaults() -> None:
    observability = load_config(write("observability:\n  log_format: json\n  http: {}\n" + BASE)).observability
    assert observability.log_format == "json"
    assert observability.http is not None
    assert (observability.http.listen, observability.http.port) == ("127.0.0.1", 9108)


def test_every_bad_value_is_reported_at_its_line() -> None:
    text = (
        "observability:\n"
        "  log_format: yaml\n"
        "  log_level: verbose\n"
        "  http:\n"
        "    listen: http://0.0.0.0\n"
        "    port: 70000\n"
        "    path: /metrics\n" + BASE
    )
    assert issues_of(text) == [
        "config.yaml:2 observability.log_format: input should be 'text' or 'json'",
        "config.yaml:3 observability.log_level: input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "config.yaml:5 observability.http.listen: expected an address to listen on, such as 127.0.0.1, 0.0.0.0 or ::",
        "config.yaml:6 observability.http.port: input should be less than or equal to 65535",
        "config.yaml:7 observability.http.path: unknown key 'path'",
    ]


def test_port_0_leaves_the_port_to_the_system_and_a_negative_one_is_refused() -> None:
    config = load_config(write("observability:\n  http: {port: 0}\n" + BASE))
    assert config.observability.http is not None and config.observability.http.port == 0
    assert issues_of("observability:\n  http: {port: -1}\n" + BASE) == [
        "config.yaml:2 observability.http.port: input should be greater than or equal to 0"
    ]


@pytest.mark.parametrize("listen", ["0.0.0.0", "::", "::1", "10.1.2.3", "metrics.internal", "localhost"])
def test_addresses_and_host_names_are_accepted(listen: str) -> None:
    config = load_config(write(f'observability:\n  http: {{listen: "{listen}"}}\n' + BASE))
    assert config.observability.http is not None
    assert config.observability.http.listen == listen


def test_the_telegram_webhook_port_is_not_shared() -> None:
    text = BASE.replace(
        "platforms:\n",
        "platforms:\n  telegram:\n    bot_token: ${TELEGRAM_BOT_TOKEN}\n    webhook:\n"
        "      url: https://bot.example.com/telegram\n      port: 9108\n"
        "      secret_token: ${TELEGRAM_WEBHOOK_SECRET}\n",
    )
    assert issues_of("observability:\n  http:\n    port: 9108\n" + text) == [
        "config.yaml:3 observability.http.port: port 9108 is already the Telegram webhook's "
        "(platforms.telegram.webhook.port)"
    ]
