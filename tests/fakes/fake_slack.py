"""A fake Slack over real HTTP and a real WebSocket, for driving the real slack-sdk and slack-bolt clients.

Web API: ``/api/<method>`` on a free 127.0.0.1 port for the methods the adapter calls (``auth.test``,
``conversations.open``, ``chat.postMessage``, ``chat.update``, ``conversations.history``,
``users.lookupByEmail``, ``users.info``, ``files.getUploadURLExternal``, ``files.completeUploadExternal``,
``apps.connections.open``), plus the upload URL it hands out. Bodies are parsed whether the SDK sent them as
JSON, a form or query parameters, and every call is recorded with its parsed body and the status it got. Users
belong to this workspace (``TEAM_ID``, which ``auth.test`` reports) or, through Slack Connect, to another one,
and ``users.info`` says whether their e-mail is confirmed.
Like Slack, API errors are HTTP 200 with ``ok: false`` and an error code; a rate limit is HTTP 429 with
``Retry-After``. Tokens are checked: the bot token for the Web API, the app-level token for
``apps.connections.open``.

``chat.postMessage`` is limited per channel (Slack: "1 per second", "short bursts >1 allowed"). Tests can make
the next calls of a method fail with 429 + ``Retry-After``, a 5xx or an error code, or stall: the message is
stored and the answer withheld, as when a send times out after Slack accepted it.

Socket Mode: ``apps.connections.open`` returns a ``ws://`` URL on this server. A connection is greeted with
``hello``; envelopes pushed by the test go to the newest open connection (or wait for one) and the client's
acks are recorded. Tests can redeliver an envelope (same payload, new envelope id, as Slack does after a
missing ack or on another connection), drop every connection, or ask the client to reconnect with a
``disconnect`` message.

HTTP mode: ``post_signed`` sends an Events API or interactivity request to the adapter's own server with
Slack's ``X-Slack-Signature`` (v0, HMAC-SHA256 over ``v0:<timestamp>:<body>``), or with a bad signature or an
old timestamp when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.fake_platform import LocalServer, Rate, _Gcra

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "T0FAKE0001"
APP_ID = "A0FAKE0001"
BOT_USER = "U0BOT00001"
BOT_ID = "B0BOT00001"
#: Slack's chat.postMessage limit: about one message a second per channel, with short bursts.
SLACK_PER_CHANNEL = Rate(1.0, burst=3)


#: A Web API method's answer: HTTP status, JSON body, extra headers.
_Answer = tuple[int, dict[str, Any], dict[str, str] | None]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    body: dict[str, Any]
    status: int
    error: str | None


@dataclass(slots=True)
class Posted:
    """A message in a channel as Slack keeps it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    edits: list[dict[str, Any]] = field(default_factory=list)

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]

    def as_history(self, with_metadata: bool) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": self.text,
            "ts": self.ts,
            "blocks": self.blocks,
        }
        if with_metadata and self.metadata is not None:
            message["metadata"] = self.metadata
        return message


@dataclass(frozen=True, slots=True)
class SharedFile:
    file_id: str
    channel: str | None
    title: str
    data: bytes
    initial_comment: str | None


@dataclass(slots=True)
class _Fault:
    method: str
    status: int
    error: str
    retry_after: int = 1
    stall: float = 0.0


class FakeSlack(LocalServer):
    """``await start()`` (or ``async with``), point the adapter at ``api_url``, push events, read the records."""

    def __init__(
        self,
        *,
        per_channel_rate: Rate | None = SLACK_PER_CHANNEL,
        now: Callable[[], float] = time.monotonic,
        jitter: float = 0.05,
    ) -> None:
        super().__init__()
        self._per_channel_rate = per_channel_rate
        self._per_channel: dict[str, _Gcra] = {}
        self._jitter = jitter
        self._now = now
        self._faults: deque[_Fault] = deque()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._sockets: list[web.WebSocketResponse] = []
        self._waiting: list[dict[str, Any]] = []
        self._connected = asyncio.Condition()
        self._acked = asyncio.Condition()
        self.users: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        #: The client end (host, port) of the connection each Web API call came on: one per HTTP session.
        self.api_connections: list[tuple[str, int]] = []
        self.messages: dict[tuple[str, str], Posted] = {}
        self.uploads: dict[str, bytes] = {}
        self.files: list[SharedFile] = []
        self.envelopes: list[dict[str, Any]] = []
        self.acks: list[str] = []
        self.connections = 0
        self.bot_token = BOT_TOKEN
        self.app_token = APP_TOKEN
        self.signing_secret = SIGNING_SECRET

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)  # slack-sdk uses GET for some methods
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._socket)

    async def before_stop(self) -> None:
        self._closing.set()
        for ws in list(self._sockets):
            await ws.close()

    @property
    def api_url(self) -> str:
        """The ``base_url`` slack-sdk puts the method name after."""
        return f"{self.base}/api/"

    # ---- the workspace -----------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        email: str,
        name: str = "",
        *,
        is_bot: bool = False,
        team_id: str = TEAM_ID,
        email_confirmed: bool = True,
    ) -> None:
        """A member of this workspace, or with ``team_id`` of another one reaching it (Slack Connect);
        ``users.info`` reports ``is_email_confirmed`` as given (an address set but never verified is not)."""
        self.users[user_id] = {
            "id": user_id,
            "team_id": team_id,
            "name": name or email.partition("@")[0],
            "deleted": False,
            "is_bot": is_bot,
            "is_email_confirmed": email_confirmed,
            "profile": {"email": email, "real_name": name},
        }

    def team_of(self, user_id: str) -> str:
        return str(self.users.get(user_id, {}).get("team_id", TEAM_ID))

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return "D" + user_id[1:]

    # ---- what happened -----------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_to(self, user_id: str) -> list[Posted]:
        """The messages in the bot's DM with ``user_id``, oldest first."""
        channel = self.dm_channel(user_id)
        return [m for (c, _), m in self.messages.items() if c == channel]

    def files_to(self, user_id: str) -> list[SharedFile]:
        return [f for f in self.files if f.channel == self.dm_channel(user_id)]

    # ---- faults, consumed by the next calls of the method in order ----------------------------------------

    def fail_next(self, method: str, status: int, times: int = 1, *, error: str = "", retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (429, 500) or, for 200, ``error``."""
        code = error or {429: "ratelimited"}.get(status, "internal_error")
        self._faults.extend(_Fault(method, status, code, retry_after) for _ in range(times))

    def stall_next(self, method: str, *, seconds: float = 30.0) -> None:
        """Do what the next call of ``method`` asks, then keep the caller waiting ``seconds`` for the answer."""
        self._faults.append(_Fault(method, 200, "", stall=seconds))

    # ---- Socket Mode -------------------------------------------------------------------------------------

    async def wait_connected(self, connections: int = 1) -> None:
        """Wait until the client has opened ``connections`` sockets in all."""
        async with self._connected:
            await asyncio.wait_for(self._connected.wait_for(lambda: self.connections >= connections), 10)

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Deliver an envelope (``events_api`` or ``interactive``) over Socket Mode; return it."""
        envelope = {
            "envelope_id": f"env-{next(self._ids)}",
            "type": kind,
            "payload": payload,
            "accepts_response_payload": False,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": 0, "retry_reason": ""}
        self._deliver(envelope)
        return envelope

    def redeliver(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Slack delivering the same payload again, as after a missing ack: a new envelope, the same event."""
        again = dict(envelope, envelope_id=f"env-{next(self._ids)}")
        if "retry_attempt" in envelope:
            again |= {"retry_attempt": int(envelope["retry_attempt"]) + 1, "retry_reason": "timeout"}
        self._deliver(again)
        return again

    async def wait_acked(self, envelope: dict[str, Any]) -> None:
        async with self._acked:
            await asyncio.wait_for(self._acked.wait_for(lambda: envelope["envelope_id"] in self.acks), 10)

    async def drop_sockets(self) -> None:
        """Close every Socket Mode connection from the server's side, as a network failure would."""
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def ask_to_reconnect(self) -> None:
        """Slack's ``disconnect`` message: the client should open a new connection."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})

    def _deliver(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)
        self._waiting.append(envelope)
        asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._waiting:
            open_sockets = [ws for ws in self._sockets if not ws.closed]
            if not open_sockets:
                return  # sent when the client connects again
            envelope = self._waiting.pop(0)
            try:
                await open_sockets[-1].send_json(envelope)
            except ConnectionError:
                self._waiting.insert(0, envelope)
                return

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, timeout=1.0)  # a close waits this long for the client's answer
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake"},
                "connection_info": {},
            }
        )
        async with self._connected:
            self.connections += 1
            self._connected.notify_all()
        await self._flush()
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                ack = json.loads(message.data)
                async with self._acked:
                    self.acks.append(str(ack.get("envelope_id")))
                    self._acked.notify_all()
        finally:
            self._sockets.remove(ws)
        return ws

    # ---- payloads as Slack sends them -------------------------------------------------------------------

    def message_event(
        self,
        user_id: str,
        text: str,
        *,
        channel_type: str = "im",
        channel: str | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An Events API ``event_callback`` body carrying a ``message`` event (``message.im`` by default)."""
        ts = self._next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": channel or self.dm_channel(user_id),
            "channel_type": channel_type,
            "client_msg_id": f"msg-{next(self._ids)}",
            "team": self.team_of(user_id),
            "user_team": self.team_of(user_id),
            "source_team": self.team_of(user_id),
        }
        if subtype is not None:
            event["subtype"] = subtype
        if bot_id is not None:
            event["bot_id"] = bot_id
        event |= extra or {}
        return {
            "token": "verification-token-unused",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-ctx-{next(self._ids)}",
        }

    def block_actions(self, user_id: str, message: Posted, value_suffix: str) -> dict[str, Any]:
        """A ``block_actions`` payload for pressing the button whose value ends with ``value_suffix``."""
        button = next(b for b in message.buttons() if str(b["value"]).endswith(value_suffix))
        block_id = next(
            b.get("block_id", "") for b in message.blocks if b.get("type") == "actions" and button in b["elements"]
        )
        user = self.users.get(user_id, {"name": user_id})
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": self.team_of(user_id)},
            "api_app_id": APP_ID,
            "token": "verification-token-unused",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"trigger-{next(self._ids)}",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": "directmessage"},
            "message": message.as_history(with_metadata=False),
            "state": {"values": {}},
            "response_url": f"{self.base}/actions/unused",
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button["value"],
                    "type": "button",
                    "action_ts": self._next_ts(),
                }
            ],
        }

    # ---- HTTP mode --------------------------------------------------------------------------------------

    def signature(self, body: str, timestamp: int, secret: str | None = None) -> str:
        base = f"v0:{timestamp}:{body}".encode()
        digest = hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    async def post_signed(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        interactive: bool = False,
        secret: str | None = None,
        age: float = 0.0,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        """Send an Events API body (JSON) or an interactivity payload (form field ``payload``), signed."""
        if interactive:
            body = urlencode({"payload": json.dumps(payload)})
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload)
            content_type = "application/json"
        timestamp = int(time.time() - age)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": self.signature(body, timestamp, secret),
        }
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()

    # ---- the Web API ------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.transport is not None:
            self.api_connections.append(tuple(request.transport.get_extra_info("peername")[:2]))
        body = await _parse(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return self._record(method, body, 200, {"ok": False, "error": "invalid_auth"})
        fault = self._take_fault(method)
        if fault is not None and fault.status == 429:
            return self._record(
                method, body, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            )
        if fault is not None and fault.status != 200:
            return self._record(method, body, fault.status, {"ok": False, "error": fault.error})
        if fault is not None and fault.error:
            return self._record(method, body, 200, {"ok": False, "error": fault.error})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._record(method, body, 404, {"ok": False, "error": "unknown_method"})
        status, answer, headers = handler(body)
        response = self._record(method, body, status, answer, headers)
        if fault is not None and fault.stall:
            # Done, and the answer lost on the way back.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.stall)
        return response

    def _record(
        self,
        method: str,
        body: dict[str, Any],
        status: int,
        answer: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        error = None if answer.get("ok") else str(answer.get("error"))
        self.calls.append(Call(method, body, status, error))
        return web.json_response(answer, status=status, headers=headers)

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method:
                self._faults.remove(fault)
                return fault
        return None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _auth_test(self, body: dict[str, Any]) -> _Answer:
        return (
            200,
            {
                "ok": True,
                "url": "https://fake.slack.test/",
                "team": "Fake Practice",
                "user": "checkin",
                "team_id": TEAM_ID,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            },
            None,
        )

    def _apps_connections_open(self, body: dict[str, Any]) -> _Answer:
        return 200, {"ok": True, "url": f"ws://127.0.0.1:{self._port}/link?ticket={next(self._ids)}"}, None

    def _conversations_open(self, body: dict[str, Any]) -> _Answer:
        user = str(body.get("users", ""))
        if user not in self.users:
            return 200, {"ok": False, "error": "user_not_found"}, None
        if self.users[user]["deleted"]:
            return 200, {"ok": False, "error": "user_disabled"}, None
        return 200, {"ok": True, "channel": {"id": self.dm_channel(user)}}, None

    def _users_lookupByEmail(self, body: dict[str, Any]) -> _Answer:
        email = str(body.get("email", "")).lower()
        user = next((u for u in self.users.values() if u["profile"]["email"].lower() == email), None)
        if user is None:
            return 200, {"ok": False, "error": "users_not_found"}, None
        return 200, {"ok": True, "user": user}, None

    def _users_info(self, body: dict[str, Any]) -> _Answer:
        user = self.users.get(str(body.get("user", "")))
        if user is None:
            return 200, {"ok": False, "error": "user_not_found"}, None
        return 200, {"ok": True, "user": user}, None

    def _known_channel(self, channel: str) -> bool:
        return any(self.dm_channel(u) == channel for u in self.users)

    def _chat_postMessage(self, body: dict[str, Any]) -> _Answer:
        channel = str(body.get("channel", ""))
        if not self._known_channel(channel):
            return 200, {"ok": False, "error": "channel_not_found"}, None
        if not body.get("text") and not body.get("blocks"):
            return 200, {"ok": False, "error": "no_text"}, None
        if self._per_channel_rate is not None:
            now = self._now()
            bucket = self._per_channel.setdefault(channel, _Gcra(self._per_channel_rate, self._jitter))
            if (early := bucket.early_by(now)) > 0:
                wait = max(1, int(early + 0.999))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
            bucket.take(now)
        blocks = _json_field(body.get("blocks")) or []
        if (refused := _over_limits(str(body.get("text", "")), blocks)) is not None:
            return 200, {"ok": False, "error": refused}, None
        metadata = _json_field(body.get("metadata"))
        ts = self._next_ts()
        posted = Posted(channel, ts, str(body.get("text", "")), blocks, metadata)
        self.messages[(channel, ts)] = posted
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": posted.as_history(True)}, None

    def _chat_update(self, body: dict[str, Any]) -> _Answer:
        key = (str(body.get("channel", "")), str(body.get("ts", "")))
        posted = self.messages.get(key)
        if posted is None:
            return 200, {"ok": False, "error": "message_not_found"}, None
        posted.edits.append(body)
        posted.text = str(body.get("text", posted.text))
        posted.blocks = _json_field(body.get("blocks")) or []
        return 200, {"ok": True, "channel": key[0], "ts": key[1], "text": posted.text}, None

    def _conversations_history(self, body: dict[str, Any]) -> _Answer:
        channel = str(body.get("channel", ""))
        if not self._known_channel(channel):
            return 200, {"ok": False, "error": "channel_not_found"}, None
        limit = int(body.get("limit") or 100)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        newest_first = [m for (c, _), m in reversed(self.messages.items()) if c == channel][:limit]
        return (
            200,
            {"ok": True, "messages": [m.as_history(with_metadata) for m in newest_first], "has_more": False},
            None,
        )

    def _files_getUploadURLExternal(self, body: dict[str, Any]) -> _Answer:
        if not body.get("filename") or not str(body.get("length", "")).isdecimal():
            return 200, {"ok": False, "error": "invalid_arguments"}, None
        file_id = f"F{next(self._ids):08d}"
        return 200, {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}, None

    def _files_completeUploadExternal(self, body: dict[str, Any]) -> _Answer:
        files = _json_field(body.get("files")) or []
        shared = []
        for entry in files:
            data = self.uploads.get(str(entry.get("id")))
            if data is None:
                return 200, {"ok": False, "error": "file_not_found"}, None
            channel = body.get("channel_id")
            self.files.append(
                SharedFile(str(entry["id"]), channel, str(entry.get("title") or ""), data, body.get("initial_comment"))
            )
            shared.append({"id": entry["id"], "title": entry.get("title"), "size": len(data)})
        return 200, {"ok": True, "files": shared}, None

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[request.match_info['file_id']])}")


async def _parse(request: web.Request) -> dict[str, Any]:
    """The call's arguments, however the SDK sent them: query string, form or JSON."""
    body: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body |= await request.json()
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        body |= {k: v for k, v in form.items() if isinstance(v, str)}
    return body


#: Slack's limits on a message: its ``text`` (40,000 characters), a section's text (3,000), the number of blocks
#: (50), and the text of all blocks together, which Slack enforces without documenting it (posts fail from about
#: 13,200 characters on; this fake refuses from 13,000).
TEXT_LIMIT = 40_000
SECTION_LIMIT = 3_000
BLOCKS_LIMIT = 50
BLOCKS_TEXT_LIMIT = 13_000


def _over_limits(text: str, blocks: list[dict[str, Any]]) -> str | None:
    """The error Slack answers a post over one of its limits with, or None."""
    if len(text) > TEXT_LIMIT:
        return "msg_too_long"
    sections = [b["text"]["text"] for b in blocks if b.get("type") == "section" and isinstance(b.get("text"), dict)]
    if len(blocks) > BLOCKS_LIMIT or any(len(s) > SECTION_LIMIT for s in sections):
        return "invalid_blocks"
    if sum(len(s) for s in sections) > BLOCKS_TEXT_LIMIT:
        return "msg_blocks_too_long"
    return None


def _json_field(value: Any) -> Any:
    """Slack accepts structured arguments as JSON or as JSON-encoded strings (form posts)."""
    if isinstance(value, str):
        return json.loads(value) if value else None
    return value
