"""Issue 15, item 5: no token is ever printed, and a start that fails says why in one line.

Reproduced before the fix: a Telegram ``api_url`` without ``/bot`` (``http://host:port``) put the token into
the port, and the start error quoted it; ``checkin invite`` quoted a token Telegram rejected; a refused Slack
app token printed slack_sdk's ERROR line before the reason, and bolt warned on every start that
``SLACK_BOT_TOKEN`` would be unused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_telegram import FakeTelegram
from tests.test_slack import CONFIG as SLACK_CONFIG
from tests.test_telegram import CONFIG as TELEGRAM_CONFIG
from tests.test_telegram import checkin_cli

WRONG_TELEGRAM_TOKEN = "424242:zebra-bot-token-TEST"
SLACK_BOT_TOKEN_SET = "xoxb-zebra-token-from-the-environment"


def telegram_config(tmp_path: Path, api_url: str) -> Path:
    """The Telegram practice with its Bot API at ``api_url`` and a SQLite database in ``tmp_path``."""
    path = tmp_path / "config.yaml"
    path.write_text(
        TELEGRAM_CONFIG.replace(
            'telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}',
            f'telegram: {{bot_token: "${{TELEGRAM_BOT_TOKEN}}", api_url: "{api_url}"}}',
        )
        + f'database:\n  url: "sqlite+aiosqlite:///{tmp_path / "bot.sqlite3"}"\n',
        encoding="utf-8",
    )
    return path


def started_and_failed(stderr: str) -> str:
    """The last line of a failed start's output, after checking nothing before it is a secret or a problem:
    the lines before are the bot's own INFO log of its start."""
    assert "zebra" not in stderr
    lines = stderr.strip().splitlines()
    for line in lines[:-1]:
        assert " INFO " in line, line  # no ERROR or WARNING from a library, no traceback
    return lines[-1]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("https://bot-api.example.org/bot", "https://bot-api.example.org/bot"),
        ("https://bot-api.example.org", "https://bot-api.example.org/bot"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot"),
        ("https://tg.example.org/api/bot/", "https://tg.example.org/api/bot"),
    ],
)
def test_the_telegram_api_url_is_normalised_to_end_in_bot(tmp_path: Path, written: str, used: str) -> None:
    config = load_config(telegram_config(tmp_path, written))
    assert config.platforms.telegram is not None and config.platforms.telegram.api_url == used


@pytest.mark.unit
@pytest.mark.parametrize("written", ["http://127.0.0.1:bot", "ftp://tg.example.org/bot", "api.telegram.org/bot"])
def test_a_telegram_api_url_that_cannot_work_is_a_config_error_naming_the_field(tmp_path: Path, written: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(telegram_config(tmp_path, written))
    [issue] = [str(issue) for issue in caught.value.issues]
    assert "platforms.telegram.api_url: " in issue and "Bot API URL" in issue


@pytest.mark.process
async def test_a_telegram_start_error_is_one_line_without_the_token(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        # The server's address without /bot: the token used to be read as part of the port, and quoted.
        path = telegram_config(tmp_path, fake.api_url.removesuffix("/bot"))
        status, _, err = await checkin_cli(
            "run", "--config", str(path), env={"TELEGRAM_BOT_TOKEN": WRONG_TELEGRAM_TOKEN}
        )
    assert status == 69
    assert started_and_failed(err) == "checkin: Telegram refused the bot token (platforms.telegram.bot_token)"


@pytest.mark.process
async def test_checkin_invite_does_not_echo_a_rejected_token(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        path = telegram_config(tmp_path, fake.api_url)
        status, out, err = await checkin_cli(
            "invite", "maya", "--config", str(path), env={"TELEGRAM_BOT_TOKEN": WRONG_TELEGRAM_TOKEN}
        )
    assert (status, out) == (2, "")
    assert err.strip() == "Telegram refused the bot token (platforms.telegram.bot_token)"
    assert "zebra" not in err


@pytest.mark.process
async def test_a_refused_slack_app_token_is_one_line_and_bolt_says_nothing(tmp_path: Path) -> None:
    async with FakeSlack() as fake:
        path = tmp_path / "config.yaml"
        path.write_text(
            f'database: {{url: "sqlite+aiosqlite:///{tmp_path / "run.sqlite3"}"}}\n'
            + SLACK_CONFIG.replace(
                'app_token: "${SLACK_APP_TOKEN}"}', f'app_token: "${{SLACK_APP_TOKEN}}", api_url: "{fake.api_url}"}}'
            ),
            encoding="utf-8",
        )
        fake.bot_token = SLACK_BOT_TOKEN_SET
        env = {"SLACK_BOT_TOKEN": SLACK_BOT_TOKEN_SET, "SLACK_APP_TOKEN": "xapp-zebra-revoked"}
        status, _, err = await checkin_cli("run", "--config", str(path), env=env)
    assert status == 69
    assert started_and_failed(err) == "checkin: Slack refused the app token: invalid_auth"
