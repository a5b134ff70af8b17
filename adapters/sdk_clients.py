"""The platform SDK clients, configured so they never send a message twice behind the outbox's back.

Neither Slack nor Telegram accepts an idempotency key on a send, so a retry is only safe where the outbox
decides it, knowing the row and its attempts. slack-sdk's ``AsyncWebClient`` retries connection errors by
default (``async_default_handlers()``), which re-posts a message whose request reached Slack before the
connection dropped; here it gets no retry handlers at all. python-telegram-bot's ``HTTPXRequest`` does not
retry (httpx transports default to ``retries=0``), nor does ``AiohttpRequest``, which the bot's calls go
through instead (``adapters.telegram_http``: the same calls for half the CPU), and its ``AIORateLimiter`` would
retry on ``RetryAfter``, so it is not used: pacing and retries belong to the outbox.

Each SDK is imported by the function that builds its client: both adapters import this module, and a bot on
one platform need not load the other's SDK (python-telegram-bot with httpx is about 0.2 s and 20 MB of a
Slack bot's start otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient
    from telegram import Bot
    from telegram.request import BaseRequest

SLACK_API_URL = "https://slack.com/api/"
TELEGRAM_API_URL = "https://api.telegram.org/bot"
#: Seconds a send may take before it is treated as ambiguous (the platform may have accepted it).
SEND_TIMEOUT = 10.0


def slack_web_client(token: str, api_url: str = SLACK_API_URL, *, timeout: float = SEND_TIMEOUT) -> AsyncWebClient:
    from slack_sdk.web.async_client import AsyncWebClient

    # slack-sdk takes whole seconds; at least one, or aiohttp would wait forever.
    return AsyncWebClient(token=token, base_url=api_url, timeout=max(1, int(timeout)), retry_handlers=[])


def slack_session(client: AsyncWebClient) -> aiohttp.ClientSession:
    """One HTTP session for every call of ``client`` (call inside the event loop; close it on stop).

    Without one, slack-sdk opens a session, and a connection, for each call. A session the caller gives it is
    used as it is, so it carries the client's timeout itself.
    """
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))


def telegram_bot(token: str, api_url: str = TELEGRAM_API_URL, *, updates_request: BaseRequest | None = None) -> Bot:
    """``updates_request`` replaces python-telegram-bot's own client for ``getUpdates`` (long polling)."""
    from telegram import Bot

    from adapters.telegram_http import AiohttpRequest

    return Bot(
        token=token,
        base_url=api_url,
        request=AiohttpRequest(timeout=SEND_TIMEOUT),
        get_updates_request=updates_request,
    )
