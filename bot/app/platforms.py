"""The chat platforms a config names, built as adapters: the one place that turns config into Slack and Telegram.

The platform SDKs are imported only here and only when a platform is configured, so commands that never talk
to a platform (and a deployment with one platform) do not pay for importing the other's SDK.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.config import Config, MissingSecretError, resolve_secret
from bot.contract.adapter import Adapter

if TYPE_CHECKING:
    from bot.contract.http_server import HttpLimits

#: The platforms a person can be reached on; the console stands in for all of them in `checkin run --console`.
CHAT_PLATFORMS = ("slack", "telegram")

_TELEGRAM_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class PlatformSetupError(Exception):
    """A platform setting that cannot be used (an unset secret, a malformed one); the message is one line."""


def platform_adapters(config: Config) -> dict[str, Adapter]:
    """The adapters for the configured platforms (Slack, Telegram, both, or none), by platform name."""
    adapters: dict[str, Adapter] = {}
    if config.platforms.slack is not None:
        adapters["slack"] = _slack_adapter(config)
    if config.platforms.telegram is not None:
        adapters["telegram"] = _telegram_adapter(config)
    return adapters


def http_limits(config: Config) -> HttpLimits:
    """The limits every HTTP server of this process holds clients to (``http_servers`` in the config)."""
    from bot.contract.http_server import HttpLimits  # aiohttp: only for a process that serves HTTP

    servers = config.http_servers
    return HttpLimits(
        header_timeout=servers.header_timeout.total_seconds(),
        idle_timeout=servers.idle_timeout.total_seconds(),
        max_connections=servers.max_connections,
        max_body_bytes=servers.max_body_bytes,
    )


async def telegram_bot_username(config: Config) -> str:
    """The configured Telegram bot's @username (for invite links); ``ConnectionError`` if Telegram does not answer,
    ``PlatformSetupError`` if it refuses the token."""
    from adapters.telegram import fetch_bot_username  # python-telegram-bot is only imported where it is used

    try:
        return await fetch_bot_username(_telegram_token(config), _telegram_api_url(config))
    except PermissionError as exc:
        raise PlatformSetupError(str(exc)) from None


def _slack_adapter(config: Config) -> Adapter:
    slack = config.platforms.slack
    assert slack is not None
    # slack-bolt and slack-sdk are only imported where they are used
    from adapters.sdk_clients import SLACK_API_URL
    from adapters.slack import HttpSettings, SlackAdapter

    bot_token = _secret("platforms.slack.bot_token", slack.bot_token)
    api_url = slack.api_url or SLACK_API_URL
    if slack.mode == "http":
        assert slack.signing_secret is not None  # the config requires it in http mode
        http = slack.http
        limits = http_limits(config)
        settings = (
            HttpSettings(http.listen, http.port, http.path, limits) if http is not None else HttpSettings(limits=limits)
        )
        secret = _secret("platforms.slack.signing_secret", slack.signing_secret)
        return SlackAdapter(bot_token, mode="http", signing_secret=secret, api_url=api_url, http=settings)
    assert slack.app_token is not None  # the config requires it in socket mode
    app_token = _secret("platforms.slack.app_token", slack.app_token)
    return SlackAdapter(bot_token, mode="socket", app_token=app_token, api_url=api_url)


def _telegram_adapter(config: Config) -> Adapter:
    telegram = config.platforms.telegram
    assert telegram is not None
    # python-telegram-bot is only imported where it is used
    from adapters.telegram import TelegramAdapter, WebhookSettings

    if telegram.webhook is None:
        return TelegramAdapter(_telegram_token(config), _telegram_api_url(config))
    webhook = telegram.webhook
    secret = _secret("platforms.telegram.webhook.secret_token", webhook.secret_token)
    if not _TELEGRAM_SECRET_TOKEN.fullmatch(secret):
        raise PlatformSetupError(
            "platforms.telegram.webhook.secret_token: Telegram accepts 1 to 256 characters A-Z, a-z, 0-9, '_' "
            "and '-' only; generate one with: "
            ".venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    settings = WebhookSettings(webhook.url, webhook.listen, webhook.port, secret, limits=http_limits(config))
    return TelegramAdapter(_telegram_token(config), _telegram_api_url(config), mode="webhook", webhook=settings)


def _telegram_token(config: Config) -> str:
    assert config.platforms.telegram is not None
    return _secret("platforms.telegram.bot_token", config.platforms.telegram.bot_token)


def _telegram_api_url(config: Config) -> str:
    from adapters.sdk_clients import TELEGRAM_API_URL

    assert config.platforms.telegram is not None
    return config.platforms.telegram.api_url or TELEGRAM_API_URL


def _secret(field: str, value: str) -> str:
    try:
        return resolve_secret(value)
    except MissingSecretError as exc:
        raise PlatformSetupError(f"{field}: {exc}") from None
