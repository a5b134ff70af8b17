"""Slack through slack-bolt's ``AsyncApp``, in Socket Mode (the default) or HTTP mode, sharing the bot's loop.

Socket Mode needs no public URL: the app-level token (``xapp-``) opens a WebSocket to Slack, which the SDK
keeps alive and reopens when it drops or Slack asks for a new one. HTTP mode runs an aiohttp server of its
own: ``POST <path>`` (``/slack/events``) for events and button presses, checked against the signing secret
(bolt refuses a bad signature or a timestamp older than five minutes), and ``GET /healthz`` for a load
balancer. Several replicas can run behind one load balancer in HTTP mode; in Socket Mode Slack spreads
deliveries over the open connections of every replica.

Acknowledge first, then work. Bolt acknowledges an event before its listener runs, and the button listener
calls ``ack()`` before anything else, so Slack hears back within its three seconds whatever the database does.
The work that follows never raises out of a listener: an event already acknowledged is never delivered again,
and in Socket Mode an envelope whose listener raised is not acknowledged, which would make Slack redeliver it
(at once, after a minute, after five) to fail the same way. So the adapter retries a failed handling itself
(after 1 s, 4 s and 15 s), and only then logs it (without the message's text) and drops it. `checkin run` hands
Slack events to the core's durable spool (``bot.runtime.spool``), which keeps each on disk and retries it until
it is handled, so those retries only meet a failing local disk. Nothing is half done or done twice, because the
runtime handles each event in one transaction keyed by its id. A press whose handling failed keeps its buttons, so
the person can press again.

Inbound, deliberately narrow (the app subscribes to ``message.im`` only):
- a new message in the bot's DM becomes ``InboundText``; ``event_key`` is Slack's ``event_id``, which Slack
  keeps across its retries and Socket Mode re-deliveries, so the runtime acts on it once;
- edited messages (``message_changed``) are ignored: the answer given first stands, as the conversation has
  moved on; deleted messages (``message_deleted``) are ignored too: what was answered stays answered (an admin
  can ``forget`` a client), and every other subtype (joins, file shares without text...) is ignored;
- messages from bots, the bot's own included, and anything outside a DM are ignored;
- a button press becomes ``InboundChoice`` with ``event_key`` ``action:<channel>:<message ts>``: one answer per
  message, so a re-delivered press, a double click, or a second button pressed before the buttons went away
  all act once. The message is then updated (``chat.update``) to show the answer without its buttons.
Who may speak is decided here, before the runtime sees anything. The sender is looked up once per user id
(``users.info``): a user of another workspace (a Slack Connect DM) is ignored, whatever their profile says, and
the sender's e-mail is sent along only when Slack has confirmed it (``is_email_confirmed``), so people
configured by e-mail are recognised and nobody is by an address they merely typed into their profile. The
workspace is the one ``auth.test`` names at start (or, under Enterprise Grid, its organisation). Anyone the
config does not know is refused by the runtime.

Outbound: a recipient is a Slack user id, or ``email:<address>`` for someone configured by e-mail
(``users.lookupByEmail``, cached; a cached id or DM that Slack no longer knows is dropped and resolved once
more). The DM comes from ``conversations.open`` (cached). Every message carries message metadata with its
outbox id. When a post timed out (Slack may have accepted it), the adapter remembers the outbox id, and the
outbox's retry first looks for a message with that id in the DM's recent history and returns it instead of
posting twice. That memory is per process: after a restart an ambiguous send is simply retried. A coach's
alert is posted as text with its buttons, then the chart is uploaded to the same DM with Slack's current
flow (``files.getUploadURLExternal``, the upload, ``files.completeUploadExternal``); if only the upload
failed, the retry uploads the chart without posting the text again.

Each Web API call is one request with no retry of its own (see ``adapters.sdk_clients``); errors are
classified into ``SendError`` for the outbox, which owns pacing and retries (and honours ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.http_server import start_http_server
from adapters.sdk_clients import SEND_TIMEOUT, SLACK_API_URL, slack_session, slack_web_client
from adapters.slack_blocks import (
    ACTION_PREFIX,
    ButtonValue,
    answered_blocks,
    escape,
    fit_message,
    message_blocks,
    parse_button_value,
)
from bot.contract.adapter import AdapterStartError, SendError
from bot.contract.http_server import DEFAULT_LIMITS, HttpLimits
from bot.contract.messages import (
    COACH_STEP,
    InboundChoice,
    InboundEvent,
    InboundSink,
    InboundText,
    OutboundMessage,
)

log = logging.getLogger(__name__)

Mode = Literal["socket", "http"]

#: The ``event_type`` of the metadata on every message the bot posts.
METADATA_EVENT = "checkin_outbox"
#: How many recent DM messages are searched for an outbox id after an ambiguous send.
HISTORY_LIMIT = 20
#: Seconds a stopping HTTP server waits for requests in flight.
HTTP_SHUTDOWN_TIMEOUT = 30.0
#: Attempts at ``users.info`` for a sender before handling the message is tried again as a whole.
LOOKUP_ATTEMPTS = 3
#: Waits before handling an acknowledged event again after a failure (a database away for a moment): Slack
#: will not deliver it again, so these retries are all that stands between the answer and losing it.
HANDLING_RETRY_WAITS = (1.0, 4.0, 15.0)
#: Longest wait between those attempts, whatever ``Retry-After`` says: the person is waiting.
LOOKUP_MAX_WAIT = 5.0
#: Seconds every send pauses after Slack refused the bot's token, so the admin can fix it without losing messages.
CREDENTIALS_PAUSE = 300.0

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_ACTION = re.compile("^" + re.escape(ACTION_PREFIX) + r"\d+$")

#: The recipient cannot be reached, or the request itself is wrong: sending it again cannot help.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "users_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "is_archived",
        "not_in_channel",
        "messages_tab_disabled",
        "restricted_action",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_arguments",
        "file_upload_size_restricted",
    }
)
#: The bot's own credentials are refused: a configuration problem that every send shares until it is fixed.
CREDENTIAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
    }
)
#: Errors after which a cached user id or DM channel may be stale and is resolved once more.
STALE_ERRORS = frozenset({"channel_not_found", "user_not_found"})


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where HTTP mode listens; Slack posts events and interactions to ``path`` (configured in the app)."""

    #: Loopback unless configured: a reverse proxy on the host forwards, or ``listen`` names the interface.
    listen: str = "127.0.0.1"
    port: int = 3000
    path: str = "/slack/events"
    limits: HttpLimits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class _Member:
    """What ``users.info`` says about a sender that decides whether, and by what, the bot may know them."""

    #: The sender belongs to the bot's own workspace (or its Enterprise Grid organisation).
    ours: bool
    #: Their e-mail address, only when it is confirmed and they are ours.
    email: str | None


def _library_logger() -> logging.Logger:
    """The logger bolt and its Socket Mode client write to, held at WARNING.

    At DEBUG they log every envelope whole, message text included, and bolt copies the root level onto the
    loggers it makes itself, so a parent logger's level would not hold them; a logger of their own does.
    """
    library = logging.getLogger("slack_bolt.checkin")
    library.setLevel(logging.WARNING)
    if not any(isinstance(f, _TokenFromEnvironmentSkipped) for f in library.filters):
        library.addFilter(_TokenFromEnvironmentSkipped())
    return library


class _TokenFromEnvironmentSkipped(logging.Filter):
    """Drops bolt's warning that ``SLACK_BOT_TOKEN`` goes unused because a client was given.

    Bolt reads that variable whatever it is passed, and it is exactly where the admin guide says the token goes;
    the adapter's client holds the same token, so the warning said nothing on every start.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def error_code(error: SlackApiError) -> str:
    data = error.response.data
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"HTTP {error.response.status_code}")


def classify(error: Exception) -> SendError:
    """What a failed Web API call means for the outbox."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        code = error_code(error)
        if status == 429 or code == "ratelimited":
            header = error.response.headers.get("Retry-After") if error.response.headers else None
            try:
                wait = float(header) if header is not None else 1.0
            except ValueError:
                wait = 1.0
            return SendError(f"Slack rate limit ({code})", retry_after=wait)
        if status >= 500:
            return SendError(f"Slack unavailable: {code} (HTTP {status})")
        if code in CREDENTIAL_ERRORS:
            # Not permanent: that would mark every recipient unreachable over a token the admin can replace.
            log.error("Slack refused the bot's credentials (%s): check SLACK_BOT_TOKEN and the app's scopes", code)
            return SendError(f"Slack refused the bot's token: {code}", retry_after=CREDENTIALS_PAUSE, scope="global")
        if code in PERMANENT_ERRORS:
            return SendError(f"Slack: {code}", permanent=True)
        return SendError(f"Slack error: {code}")
    if isinstance(error, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return SendError(f"could not connect to Slack: {type(error).__name__}")  # nothing was sent
    if isinstance(error, TimeoutError):
        return SendError("Slack did not answer in time", ambiguous=True)
    if isinstance(error, aiohttp.ClientError):
        return SendError(f"the connection to Slack broke: {type(error).__name__}", ambiguous=True)
    if isinstance(error, SlackClientError):  # an upload answered with an error status
        return SendError(f"Slack client error: {error}")
    raise error


class SlackAdapter:
    name = "slack"

    def __init__(
        self,
        bot_token: str,
        *,
        mode: Mode = "socket",
        app_token: str | None = None,
        signing_secret: str | None = None,
        api_url: str = SLACK_API_URL,
        http: HttpSettings | None = None,
        timeout: float = SEND_TIMEOUT,
        handling_retry_waits: Sequence[float] = HANDLING_RETRY_WAITS,
    ) -> None:
        if mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (xapp-...)")
        if mode == "http" and not signing_secret:
            raise ValueError("Slack HTTP mode needs the app's signing secret")
        self._mode = mode
        self._handling_retry_waits = tuple(handling_retry_waits)
        self._app_token = app_token
        self._http = http or HttpSettings()
        self._client: AsyncWebClient = slack_web_client(bot_token, api_url, timeout=timeout)
        self._app = AsyncApp(
            client=self._client,
            signing_secret=signing_secret or "",
            request_verification_enabled=mode == "http",
            process_before_response=False,  # ack first, work after
            logger=_library_logger(),
        )
        self._app.event("message")(self._on_message)
        self._app.action(_ACTION)(self._on_action)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._sink: InboundSink | None = None
        self._bot_user: str | None = None
        # The workspace (and Enterprise Grid organisation) whose people may speak to the bot, from auth.test.
        self._team: str | None = None
        self._enterprise: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        # Directory caches, in memory: user id -> member, e-mail -> user id, user id -> DM channel.
        self._members: dict[str, _Member] = {}
        self._users: dict[str, str] = {}
        self._channels: dict[str, str] = {}
        # Outbox ids whose post may have reached Slack, and posts whose chart is still to be uploaded.
        self._maybe_posted: set[int] = set()
        self._posted: dict[int, str] = {}
        # Per client's DM channel, the last question posted with buttons, so a typed answer can take them away
        # (in memory: after a restart an old button only gets "that button belongs to an earlier question").
        self._keyboards: dict[str, tuple[str, str, OutboundMessage]] = {}

    @property
    def http_port(self) -> int | None:
        """The port HTTP mode listens on once started (useful when 0 was asked for)."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def start(self, sink: InboundSink) -> None:
        self._client.session = slack_session(self._client)
        try:
            await self._connect(sink)
        except BaseException:
            await self._close_session()
            raise

    async def _close_session(self) -> None:
        if self._client.session is not None:
            await self._client.session.close()
            self._client.session = None

    async def _connect(self, sink: InboundSink) -> None:
        # One call up front: a wrong token fails the start with Slack's reason instead of every send later.
        try:
            identity = await self._client.auth_test()
        except SlackApiError as error:
            raise AdapterStartError(f"Slack refused the bot token: {error_code(error)}") from error
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise AdapterStartError(f"Slack could not be reached: {error or type(error).__name__}") from error
        self._bot_user = str(identity["user_id"])
        self._team = str(identity.get("team_id") or "") or None
        self._enterprise = str(identity.get("enterprise_id") or "") or None
        self._sink = sink
        if self._mode == "http":
            await self._start_http()
            return
        try:
            # Asked for here because the SDK's connect() retries a refused app token forever, and logs the
            # refusal at ERROR: a wrong one fails the start, in one line. Later reconnections ask themselves.
            opened = await self._client.apps_connections_open(app_token=self._app_token or "")
        except SlackApiError as error:
            raise AdapterStartError(f"Slack refused the app token: {error_code(error)}") from error
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise AdapterStartError(f"Slack could not be reached: {error or type(error).__name__}") from error
        socket = AsyncSocketModeHandler(self._app, self._app_token, web_client=self._client)
        try:
            socket.client.wss_uri = str(opened["url"])
            await socket.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
        except BaseException:
            await socket.close_async()  # type: ignore[no-untyped-call]
            raise
        self._socket = socket
        log.info("Slack Socket Mode connected as %s", self._bot_user)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # no more envelopes
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening, waits for requests in flight
            self._runner = None
        while self._in_flight:  # listeners run after their ack; let them finish
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._close_session()
        self._sink = None

    # ---- HTTP mode --------------------------------------------------------------------------------------

    async def _start_http(self) -> None:
        self._runner = await start_http_server(
            what="Slack HTTP mode",
            path=self._http.path,
            handler=self._on_request,
            listen=self._http.listen,
            port=self._http.port,
            limits=self._http.limits,
            shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT,
        )
        log.info("Slack HTTP mode listening on %s:%s%s", self._http.listen, self.http_port, self._http.path)

    async def _on_request(self, request: web.Request) -> web.Response:
        """Bolt verifies the signature and the timestamp, answers url_verification, and acks before the work."""
        response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    # ---- inbound ----------------------------------------------------------------------------------------

    def _track(self) -> None:
        """Count the running listener as in flight, so ``stop`` waits for it."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A ``message`` event (bolt has already acknowledged it)."""
        self._track()
        event_id = str(body.get("event_id", ""))
        if self._sink is None or not event_id or not self._applies(event):
            return
        user = str(event["user"])
        text = str(event.get("text") or "")
        channel = str(event.get("channel") or "")
        team = str(event.get("user_team") or body.get("team_id") or "")
        await self._guarded(event_id, user, lambda: self._text_received(event_id, user, team, text, channel))

    async def _text_received(self, event_id: str, user: str, team: str, text: str, channel: str) -> None:
        member = await self._member(user, team)
        if not member.ours:
            log.info("Slack message %s from %s of another workspace ignored", event_id, user)
            return
        answered = self._keyboards.get(channel)
        await self._deliver(InboundText(self.name, user, event_id, text, sender_email=member.email))
        if answered is not None:
            await self._drop_buttons(answered)

    async def _drop_buttons(self, posted: tuple[str, str, OutboundMessage]) -> None:
        """Take the buttons off a question the client answered by typing, as a press would have."""
        channel, ts, message = posted
        if self._keyboards.get(channel) is posted:  # a newer question may have been posted meanwhile
            del self._keyboards[channel]
        try:
            await self._client.chat_update(
                channel=channel,
                ts=ts,
                text=escape(message.text),
                blocks=message_blocks(message.text, (), message.checkin_id, message.step_key),
            )
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            log.info("Slack message %s not updated after a typed answer: %s", ts, type(error).__name__)

    def _applies(self, event: dict[str, Any]) -> bool:
        """Only what a person wrote in the bot's DM: see the module's docstring for what is ignored and why."""
        if event.get("channel_type") != "im" or event.get("subtype") is not None or event.get("bot_id"):
            return False
        user = event.get("user")
        return isinstance(user, str) and user != self._bot_user

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A press on one of the bot's buttons: acknowledged at once, then handled."""
        await ack()
        self._track()
        actions = body.get("actions") or [{}]
        action = actions[0]
        parsed = parse_button_value(action.get("value"))
        user = str((body.get("user") or {}).get("id", ""))
        team = str((body.get("user") or {}).get("team_id") or (body.get("team") or {}).get("id") or "")
        container = body.get("container") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
        ts = str(container.get("message_ts", ""))
        if self._sink is None or parsed is None or not user or not channel or not ts:
            log.info("Slack button press with data this bot did not make ignored")
            return
        key = f"action:{channel}:{ts}"
        label = str((action.get("text") or {}).get("text", parsed.value))
        message = body.get("message") or {}
        # A command button goes alone after a press; an answer's buttons all go (see ``COACH_STEP``).
        command = str(action.get("value")) if parsed.step_key == COACH_STEP else None
        await self._guarded(
            key, user, lambda: self._choice_received(key, user, team, parsed, channel, ts, label, message, command)
        )

    async def _choice_received(
        self,
        key: str,
        user: str,
        team: str,
        parsed: ButtonValue,
        channel: str,
        ts: str,
        label: str,
        message: dict[str, Any],
        command: str | None,
    ) -> None:
        member = await self._member(user, team)
        if not member.ours:
            log.info("Slack button press %s from %s of another workspace ignored", key, user)
            return
        await self._deliver(
            InboundChoice(
                self.name, user, key, parsed.checkin_id, parsed.step_key, parsed.value, sender_email=member.email
            )
        )
        await self._show_choice(channel, ts, label, message, command)

    async def _guarded(self, key: str, user: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run the work after the ack, again after a failure (the runtime acts once per event key, so a retry
        cannot double anything); log a failure instead of raising it into bolt (see the module docstring)."""
        for wait in (*self._handling_retry_waits, None):
            try:
                await work()
                return
            except Exception as error:  # the text stays out of the log: only what failed, not what was said
                if wait is None:
                    log.error(
                        "Slack event %s from %s was acknowledged but could not be handled (%s); it is dropped",
                        key,
                        user,
                        type(error).__name__,
                    )
                    return
                log.warning(
                    "Slack event %s from %s could not be handled (%s); trying again in %.0fs",
                    key,
                    user,
                    type(error).__name__,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _deliver(self, event: InboundEvent) -> None:
        assert self._sink is not None
        await self._sink(event)

    async def _show_choice(
        self, channel: str, ts: str, label: str, message: dict[str, Any], command: str | None
    ) -> None:
        """Update the question to show the answer picked, without its buttons, so it cannot be answered twice;
        a ``command`` button (the pressed one's value) goes alone, the message's other commands stay."""
        text = str(message.get("text") or "")
        try:
            await self._client.chat_update(
                channel=channel,
                ts=ts,
                text=f"{text}\n→ {escape(label)}",
                blocks=answered_blocks(message.get("blocks") or [], label, keep_others_than=command),
            )
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            log.info("Slack message %s not updated after a button press: %s", ts, type(error).__name__)

    async def _member(self, user: str, team: str) -> _Member:
        """Whether the sender is of the bot's workspace, and their confirmed e-mail (``users.info``, once per user).

        When Slack will not say (a deactivated profile, a guest), the payload's team decides and there is no
        e-mail, so a person configured by user id is still served.
        """
        if user in self._members:
            return self._members[user]
        for attempt in range(1, LOOKUP_ATTEMPTS + 1):
            try:
                response = await self._client.users_info(user=user)
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as error:
                failure = classify(error)
                if failure.permanent:
                    log.info("Slack users.info for %s refused (%s); handled without an e-mail", user, failure.reason)
                    member = self._members[user] = _Member(team == self._team, None)
                    return member
                if attempt == LOOKUP_ATTEMPTS:
                    raise
                await asyncio.sleep(min(failure.retry_after or 1.0, LOOKUP_MAX_WAIT))
                continue
            member = self._members[user] = self._read_member(response.get("user") or {})
            if member.email:
                self._users.setdefault(member.email.lower(), user)
            return member
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _read_member(self, user: dict[str, Any]) -> _Member:
        organisation = (user.get("enterprise_user") or {}).get("enterprise_id")
        ours = user.get("team_id") == self._team or (self._enterprise is not None and organisation == self._enterprise)
        email = (user.get("profile") or {}).get("email")
        confirmed = ours and user.get("is_email_confirmed") is True and bool(email)
        return _Member(ours, str(email) if confirmed else None)

    # ---- outbound ---------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        try:
            try:
                return await self._send_once(message)
            except SlackApiError as error:
                if error_code(error) not in STALE_ERRORS or not self._forget(message.recipient):
                    raise
                log.info("Slack: a cached address for %s is stale; resolving it again", _shown(message.recipient))
                return await self._send_once(message)
        except SendError:
            raise
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise classify(error) from error

    async def _send_once(self, message: OutboundMessage) -> str:
        channel = await self._dm_channel(message.recipient)
        outbox_id = message.outbox_id
        ts = self._posted.get(outbox_id) if outbox_id is not None else None
        if ts is None and outbox_id is not None and outbox_id in self._maybe_posted:
            ts = await self._find_posted(channel, outbox_id)
        if ts is None:
            ts = await self._post(channel, message)
        if message.choices and message.audience == "client":
            self._keyboards[channel] = (channel, ts, message)
        if message.image_png is not None:
            if outbox_id is not None:
                self._posted[outbox_id] = ts  # a failed upload is retried without posting the text again
            # No title: Slack shows the file name, and every sentence a person reads comes from the core.
            await self._client.files_upload_v2(channel=channel, file=message.image_png, filename="trend.png")
            if outbox_id is not None:
                self._posted.pop(outbox_id, None)
        if outbox_id is not None:
            self._maybe_posted.discard(outbox_id)
        return ts

    async def _post(self, channel: str, message: OutboundMessage) -> str:
        metadata = (
            {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": message.outbox_id}}
            if message.outbox_id is not None
            else None
        )
        try:
            text = fit_message(message.text)
            response = await self._client.chat_postMessage(
                channel=channel,
                text=escape(text),
                blocks=message_blocks(text, message.choices, message.checkin_id, message.step_key),
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            if message.outbox_id is not None and classify(error).ambiguous:
                self._maybe_posted.add(message.outbox_id)
            raise
        return str(response["ts"])

    async def _find_posted(self, channel: str, outbox_id: int) -> str | None:
        """The ts of a message in the DM already carrying ``outbox_id``, if the ambiguous post did go through."""
        response = await self._client.conversations_history(
            channel=channel, limit=HISTORY_LIMIT, include_all_metadata=True
        )
        for posted in response.get("messages") or []:
            metadata = posted.get("metadata") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT
                and (metadata.get("event_payload") or {}).get("outbox_id") == outbox_id
            ):
                log.info(
                    "Slack: outbox row %s was delivered before its send timed out; not posting it again", outbox_id
                )
                return str(posted["ts"])
        return None

    async def _dm_channel(self, recipient: str) -> str:
        if recipient.startswith("email:"):
            user = await self._user_for_email(recipient.removeprefix("email:"))
        elif _USER_ID.match(recipient):
            user = recipient
        else:
            raise SendError(f"not a Slack user id or email: address: {recipient!r}", permanent=True)
        channel = self._channels.get(user)
        if channel is None:
            response = await self._client.conversations_open(users=user)
            channel = self._channels[user] = str(response["channel"]["id"])
        return channel

    async def _user_for_email(self, email: str) -> str:
        key = email.lower()
        user = self._users.get(key)
        if user is None:
            response = await self._client.users_lookupByEmail(email=email)
            user = self._users[key] = str(response["user"]["id"])
        return user

    def _forget(self, recipient: str) -> bool:
        """Drop what is cached for ``recipient``; whether anything was (so resolving again may help)."""
        if recipient.startswith("email:"):
            user = self._users.pop(recipient.removeprefix("email:").lower(), None)
        else:
            user = recipient
        channel = self._channels.pop(user, None) if user is not None else None
        return (recipient.startswith("email:") and user is not None) or channel is not None


def _shown(recipient: str) -> str:
    """A recipient for the log: user ids as they are, e-mail addresses without their local part."""
    if recipient.startswith("email:"):
        return "email:…@" + recipient.partition("@")[2]
    return recipient
