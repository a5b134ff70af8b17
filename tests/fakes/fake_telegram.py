"""A fake Telegram Bot API over real HTTP, for driving the real python-telegram-bot client in tests.

It serves ``/bot<token>/<method>`` on a free 127.0.0.1 port for the methods the adapter calls: ``getMe``,
``getUpdates`` (long polling with offset semantics: updates with ``update_id >= offset`` are returned, and a
call waits up to ``timeout`` seconds for one to be pushed), ``sendMessage``, ``sendPhoto`` (multipart),
``editMessageText``, ``editMessageReplyMarkup``, ``answerCallbackQuery``, ``deleteWebhook`` and ``setWebhook``.
Every call is recorded with its parsed body. Like Telegram it enforces one message a second per chat and 30 a
second overall (429 with ``parameters.retry_after``) and the length limits on texts and captions (400), and it
can be told to answer the next sends with a 429, a 500 or a 403 "bot was blocked by the user", to answer every
send with a 5xx for as long as ``outage`` is set, or to answer every send ``latency`` seconds late. Tests push
updates with ``push_text``/``push_callback``; pushing the same update twice is how a re-delivery is simulated.
In webhook mode, tests build updates with ``text_update``/``callback_update``/``blocked_update`` and
``post_to_webhook`` sends them, as Telegram would, to the URL and with the secret registered through
``setWebhook``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from tests.fakes.fake_platform import LocalServer, Rate, _Gcra

BOT_ID = 7000000001
BOT_USERNAME = "checkin_test_bot"
#: Telegram's limits: about one message a second in one chat, and 30 a second overall.
TELEGRAM_PER_CHAT = Rate(1.0)
TELEGRAM_GLOBAL = Rate(30.0, burst=30)
SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})
#: Telegram's limits on a message's text and a photo's caption, counted in UTF-16 code units: Telegram says
#: "characters", and counting an emoji twice is the stricter reading, so a fake that passes is never lenient.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    body: dict[str, Any]
    status: int


@dataclass(slots=True)
class SentMessage:
    chat_id: int
    message_id: int
    text: str | None
    reply_markup: dict[str, Any] | None
    photo_size: int | None = None
    caption: str | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: The text or caption as first sent, whatever edits did to it since.
    original: str | None = None


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    chat_id: int | None
    retry_after: int = 1


class FakeTelegram(LocalServer):
    """``await start()`` (or ``async with``), hand ``api_url`` to the adapter, push updates, read the records."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST",
        per_chat_rate: Rate | None = TELEGRAM_PER_CHAT,
        global_rate: Rate | None = TELEGRAM_GLOBAL,
        now: Callable[[], float] = time.monotonic,
        jitter: float = 0.05,
        latency: float = 0.0,
    ) -> None:
        super().__init__()
        self.token = token
        #: Seconds every send waits before it is answered (the message is shown at once): a slow platform.
        self.latency = latency
        #: While set, every send is answered with this 5xx and nothing is shown: a platform outage.
        self.outage: int | None = None
        self._per_chat_rate = per_chat_rate
        self._per_chat: dict[int, _Gcra] = {}
        self._global = _Gcra(global_rate, jitter) if global_rate is not None else None
        self._jitter = jitter
        self._now = now
        self._faults: deque[_Fault] = deque()
        self._blocked: set[int] = set()
        self._updates: list[dict[str, Any]] = []
        self._redelivered: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._stopping = False
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        #: Where webhook posts go, as the load balancer in front of a bot routes them: the registered URL's path
        #: on 127.0.0.1 at this port. A test's bot listens on port 0, so only the started adapter knows it.
        self.webhook_port: int | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    async def before_stop(self) -> None:
        self._stopping = True
        async with self._new_update:  # long polls waiting for an update return at once
            self._new_update.notify_all()

    @property
    def api_url(self) -> str:
        """The ``base_url`` python-telegram-bot appends the token to."""
        return f"{self.base}/bot"

    # ---- updates the "users" send ----------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update as Telegram would deliver it; a copy with a used ``update_id`` is a re-delivery."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return int(update["update_id"])

    def redeliver(self, update: dict[str, Any]) -> None:
        """Deliver an update once more, as Telegram does when it did not see it confirmed."""
        self._redelivered.append(dict(update))
        asyncio.get_running_loop().create_task(self._notify())

    def push_text(self, chat_id: int, text: str, *, chat_type: str = "private") -> dict[str, Any]:
        update = self.text_update(chat_id, text, chat_type=chat_type)
        self.push_update(update)
        return update

    def text_update(self, chat_id: int, text: str, *, chat_type: str = "private") -> dict[str, Any]:
        """A message update with a fresh ``update_id``, not queued (for posting to a webhook)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, "first_name": "User"}
            if chat_type == "private"
            else {"id": chat_id, "type": chat_type, "title": "A group"},
            "from": _user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._update_ids), "message": message}

    def push_callback(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A press on a button of a message the bot sent."""
        update = self.callback_update(chat_id, message_id, data)
        self.push_update(update)
        return update

    def callback_update(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A button press update with a fresh ``update_id``, not queued."""
        sent = self.messages[(chat_id, message_id)]
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "User"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Check-in", "username": BOT_USERNAME},
        }
        if sent.text is not None:
            message["text"] = sent.text
        if sent.caption is not None:
            message["caption"] = sent.caption
        if sent.reply_markup is not None:
            message["reply_markup"] = sent.reply_markup
        query = {
            "id": f"cbq-{next(self._callback_ids)}",
            "from": _user(chat_id),
            "chat_instance": f"ci-{chat_id}",
            "message": message,
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def blocked_update(self, chat_id: int) -> dict[str, Any]:
        """A ``my_chat_member`` update: the user blocked the bot in their private chat."""
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "Check-in", "username": BOT_USERNAME}
        member = {
            "chat": {"id": chat_id, "type": "private", "first_name": "User"},
            "from": _user(chat_id),
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": bot},
            "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
        }
        return {"update_id": next(self._update_ids), "my_chat_member": member}

    @property
    def webhook_delivery_url(self) -> str:
        """Where an update for the URL given in ``setWebhook`` arrives: its path at ``webhook_port``, if set."""
        assert self.webhook_url is not None, "setWebhook was not called"
        if self.webhook_port is None:
            return self.webhook_url
        url = urlsplit(self.webhook_url)
        return urlunsplit(("http", f"127.0.0.1:{self.webhook_port}", url.path, url.query, ""))

    async def post_to_webhook(self, update: dict[str, Any], *, secret: str | None = "") -> int:
        """POST an update to the URL given in ``setWebhook``, as Telegram does; the HTTP status.

        ``secret`` defaults to the ``secret_token`` registered with ``setWebhook``; ``None`` sends no header.
        """
        headers = {}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret or str(self.webhook_secret)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_delivery_url, json=update, headers=headers) as response,
        ):
            return response.status

    async def _notify(self) -> None:
        async with self._new_update:
            self._new_update.notify_all()

    # ---- faults -----------------------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, *, chat_id: int | None = None, retry_after: int = 1) -> None:
        """Answer the next ``times`` sends (to ``chat_id``, or any) with ``status``: 429, 500, ..."""
        self._faults.extend(_Fault(status, chat_id, retry_after) for _ in range(times))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to them gets 403 from now on."""
        self._blocked.add(chat_id)

    # ---- what happened ----------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    # ---- the endpoint -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            body = await _parse(request)
        except ConnectionResetError:
            # The bot stopped while sending its body: nothing arrived, so nothing is recorded or answered (raised
            # on, aiohttp would log the stop as a server error with a traceback).
            raise web.HTTPBadRequest(text="connection lost") from None
        if method == "getUpdates":
            response = await self._get_updates(body)
        else:
            response = self._respond(method, body)
            if method in SEND_METHODS and self.latency:
                await asyncio.sleep(self.latency)
        self.calls.append(Call(method, body, response.status))
        return response

    async def _get_updates(self, body: dict[str, Any]) -> web.Response:
        offset = int(body.get("offset") or 0)
        limit = int(body.get("limit") or 100)
        timeout = float(body.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while True:
            # Like Telegram, an offset confirms every update before it, and those are forgotten.
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
            pending = (self._redelivered + self._updates)[:limit]
            self._redelivered = []
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or self._stopping:
                return _ok(pending)
            async with self._new_update:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), remaining)

    def _respond(self, method: str, body: dict[str, Any]) -> web.Response:
        if method == "getMe":
            return _ok(
                {"id": BOT_ID, "is_bot": True, "first_name": "Check-in", "username": BOT_USERNAME}
                | {"can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
            )
        if method == "deleteWebhook":
            self.webhook_url = None
            self.webhook_secret = None
            return _ok(True)
        if method == "setWebhook":
            self.webhook_url = str(body.get("url"))
            secret = body.get("secret_token")
            self.webhook_secret = str(secret) if secret is not None else None
            return _ok(True)
        if method == "answerCallbackQuery":
            return _ok(True)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, body)
        if method in SEND_METHODS:
            return self._send(method, body)
        return _error(404, "Not Found: method not found")

    def _send(self, method: str, body: dict[str, Any]) -> web.Response:
        chat_id = int(body["chat_id"])
        refused = _too_long(body)
        if refused is not None:
            return refused
        if self.outage is not None:
            return _error(self.outage, "Bad Gateway")
        fault = self._take_fault(chat_id)
        if chat_id in self._blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if fault is not None:
            if fault.status == 429:
                return _too_many(fault.retry_after)
            return _error(fault.status, "Forbidden: bot was blocked by the user" if fault.status == 403 else "oops")
        now = self._now()
        chat_limit = self._chat_limit(chat_id)
        early = max(
            chat_limit.early_by(now) if chat_limit else 0.0, self._global.early_by(now) if self._global else 0.0
        )
        if early > 0:
            return _too_many(max(1, math.ceil(early)))
        if chat_limit:
            chat_limit.take(now)
        if self._global:
            self._global.take(now)
        message_id = next(self._message_ids)
        markup = body.get("reply_markup")
        sent = SentMessage(
            chat_id,
            message_id,
            body.get("text") if method == "sendMessage" else None,
            markup if isinstance(markup, dict) else None,
            photo_size=body.get("photo") if method == "sendPhoto" else None,
            caption=body.get("caption"),
        )
        sent.original = sent.text if sent.text is not None else sent.caption
        self.messages[(chat_id, message_id)] = sent
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "User"},
        }
        if sent.text is not None:
            result["text"] = sent.text
        if sent.caption is not None:
            result["caption"] = sent.caption
        if sent.photo_size is not None:
            result["photo"] = [{"file_id": f"photo-{message_id}", "file_unique_id": "u", "width": 1, "height": 1}]
        if sent.reply_markup is not None:
            result["reply_markup"] = sent.reply_markup
        return _ok(result)

    def _edit(self, method: str, body: dict[str, Any]) -> web.Response:
        key = (int(body["chat_id"]), int(body["message_id"]))
        sent = self.messages.get(key)
        if sent is None:
            return _error(400, "Bad Request: message to edit not found")
        refused = _too_long(body)
        if refused is not None:
            return refused
        sent.edits.append(body)
        if method == "editMessageText":
            sent.text = body.get("text")
        markup = body.get("reply_markup")
        sent.reply_markup = markup if isinstance(markup, dict) else None
        result: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private", "first_name": "User"},
        }
        if sent.text is not None:
            result["text"] = sent.text
        return _ok(result)

    def _chat_limit(self, chat_id: int) -> _Gcra | None:
        if self._per_chat_rate is None:
            return None
        return self._per_chat.setdefault(chat_id, _Gcra(self._per_chat_rate, self._jitter))

    def _take_fault(self, chat_id: int) -> _Fault | None:
        for fault in self._faults:
            if fault.chat_id in (None, chat_id):
                self._faults.remove(fault)
                return fault
        return None


async def _parse(request: web.Request) -> dict[str, Any]:
    """The request's parameters: JSON-encoded values decoded, an uploaded file recorded as its size in bytes."""
    if request.method != "POST" or not request.can_read_body:
        return dict(request.query)
    if request.content_type == "application/json":
        parsed = await request.json()
        return dict(parsed) if isinstance(parsed, dict) else {}
    body: dict[str, Any] = {}
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            body[name] = len(value.file.read())
            continue
        text = value if isinstance(value, str) else value.decode()
        try:
            body[name] = json.loads(text)
        except ValueError:
            body[name] = text
    # A file sent as attach://name is reported under the parameter that refers to it.
    for name, value in list(body.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            body[name] = body.get(value.removeprefix("attach://"))
    return body


def _too_long(body: dict[str, Any]) -> web.Response | None:
    """Telegram's 400 for an empty or over-long text or caption; ``None`` when the body is within the limits."""
    text, caption = body.get("text"), body.get("caption")
    if text is not None and not str(text).strip():
        return _error(400, "Bad Request: message text is empty")
    if text is not None and _utf16(str(text)) > TEXT_LIMIT:
        return _error(400, "Bad Request: message is too long")
    if caption is not None and _utf16(str(caption)) > CAPTION_LIMIT:
        return _error(400, "Bad Request: message caption is too long")
    return None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "User"}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


def _too_many(retry_after: int) -> web.Response:
    return web.json_response(
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        },
        status=429,
    )
