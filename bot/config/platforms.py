"""``platforms``: how the bot reaches Slack and Telegram, with credentials only as ``${ENV_VAR}`` references."""

from __future__ import annotations

from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bot.config.fields import Strict
from bot.config.secrets import is_reference


class _Secrets(Strict):
    """Platform credentials: only ``${ENV_VAR}`` references, so tokens never sit in a file.

    ``secret_fields`` names the fields this holds for; other settings (an API URL) may be written plainly.
    """

    env_prefix: ClassVar[str]
    secret_fields: ClassVar[frozenset[str] | None] = None  # None: every field is a secret

    @field_validator("*")
    @classmethod
    def _reference_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if cls.secret_fields is not None and info.field_name not in cls.secret_fields:
            return value
        if value is None or is_reference(value):
            return value
        variable = f"{cls.env_prefix}_{(info.field_name or '').upper()}"
        raise ValueError(
            f"secrets must not be written in the config; write ${{{variable}}} here "
            f"and set the {variable} environment variable"
        )


class SlackHttp(Strict):
    """HTTP mode: Slack posts events and button presses to ``path`` on ``listen:port`` (``GET /healthz`` too)."""

    #: Loopback unless configured: a reverse proxy on this host forwards, or name the interface (0.0.0.0: all).
    listen: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)
    path: str = "/slack/events"

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/") or path == "/healthz":
            raise ValueError("expected an absolute path such as /slack/events (other than /healthz)")
        return path


class SlackPlatform(_Secrets):
    """Slack: Socket Mode by default (``app_token``), or HTTP mode (``signing_secret``, a public URL)."""

    env_prefix: ClassVar[str] = "SLACK"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"bot_token", "app_token", "signing_secret"})
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    mode: Literal["socket", "http"] = "socket"
    #: The Web API base URL; another for GovSlack (https://slack-gov.com/api/) or a test server.
    api_url: str | None = None
    http: SlackHttp | None = None

    @field_validator("api_url")
    @classmethod
    def _web_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("expected an https:// (or http://) Web API base URL; Slack's own is slack.com/api/")
        return url

    @model_validator(mode="after")
    def _credentials_for_mode(self) -> Self:
        errors: list[InitErrorDetails] = []

        def problem(field: str, message: str) -> None:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("slack_mode", message), loc=(field,), input=getattr(self, field)
                )
            )

        if self.mode == "socket" and self.app_token is None:
            problem(
                "app_token",
                "mode: socket (the default) needs app_token, the app-level token: write "
                "app_token: ${SLACK_APP_TOKEN} (an xapp- token with connections:write), or set mode: http",
            )
        if self.mode == "http" and self.signing_secret is None:
            problem(
                "signing_secret",
                "mode: http needs signing_secret, the app's signing secret that verifies requests: write "
                "signing_secret: ${SLACK_SIGNING_SECRET}",
            )
        if self.mode == "socket" and self.http is not None:
            problem("http", "the http settings apply to mode: http only; remove them or set mode: http")
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class TelegramWebhook(_Secrets):
    """Webhook mode: Telegram posts updates to ``url``; this process listens on ``listen:port``.

    Several replicas can run behind one load balancer in this mode (only one process may poll a bot).
    """

    env_prefix: ClassVar[str] = "TELEGRAM_WEBHOOK"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"secret_token"})
    url: str
    #: Loopback unless configured: a reverse proxy on this host forwards, or name the interface (0.0.0.0: all).
    listen: str = "127.0.0.1"
    #: 0 lets the system pick a free port; the start-up log line says which (how tests run several replicas).
    port: int = Field(8443, ge=0, le=65535)
    #: Telegram sends it in ``X-Telegram-Bot-Api-Secret-Token``; requests without it are refused.
    secret_token: str

    @field_validator("secret_token")
    @classmethod
    def _reference_only(cls, value: str) -> str:  # type: ignore[override]  # names the variable as documented
        if not is_reference(value):
            raise ValueError(
                "secrets must not be written in the config; write ${TELEGRAM_WEBHOOK_SECRET} here "
                "and set the TELEGRAM_WEBHOOK_SECRET environment variable"
            )
        return value

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ValueError("the webhook URL cannot be parsed") from None
        local = parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError(
                "Telegram only posts to https URLs: expected https://your.host/telegram "
                "(http is accepted for 127.0.0.1 and localhost only)"
            )
        if not parts.hostname:
            raise ValueError("the webhook URL has no host: expected https://your.host/telegram")
        if parts.query or parts.fragment:
            raise ValueError("the webhook URL must not have a query or fragment; the path alone is served")
        return url


class TelegramPlatform(_Secrets):
    env_prefix: ClassVar[str] = "TELEGRAM"
    secret_fields: ClassVar[frozenset[str] | None] = frozenset({"bot_token"})
    bot_token: str
    #: The Bot API base URL the token is appended to; another for a self-hosted Bot API server or a test.
    api_url: str | None = None
    #: Webhook mode instead of long polling; needed to run several replicas.
    webhook: TelegramWebhook | None = None

    @field_validator("api_url")
    @classmethod
    def _bot_api_url(cls, url: str | None) -> str | None:
        """A Bot API base URL ending in ``/bot`` (added when missing).

        The token is appended to it as it is: without ``/bot`` the request goes nowhere, and an address such as
        ``http://host:8081`` makes the token part of the port, which the HTTP library then quotes in its error.
        """
        if url is None:
            return None
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError(
                "the Bot API URL cannot be parsed: expected https://api.telegram.org/bot or your server's "
                "http(s)://host:port/bot"
            ) from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected an https:// (or http://) Bot API URL such as https://api.telegram.org/bot")
        if parts.query or parts.fragment:
            raise ValueError("the Bot API URL must not have a query or fragment; the token follows its path")
        path = parts.path.rstrip("/")
        if not path.endswith("/bot"):
            path += "/bot"
        return parts._replace(path=path).geturl()


class Platforms(Strict):
    slack: SlackPlatform | None = None
    telegram: TelegramPlatform | None = None
