"""Telegram through python-telegram-bot's ``Application``, sharing the bot's asyncio loop.

The application is driven with its lifecycle methods (``initialize``, ``start`` and, in reverse, ``stop``,
``shutdown``) rather than ``run_polling``, which would own the loop. Long polling is the default, and the
adapter polls itself rather than through the library's ``Updater``: the updater confirms a batch (asks for the
next one with a higher ``offset``) as soon as it has fetched it, so an update that the runtime failed on (the
database was down) or that a crash interrupted was lost for good. Here each update is handed to the runtime,
which commits before it returns, and only then is its ``update_id`` confirmed by the next ``getUpdates``; an
update the runtime failed on is handed over again, with backoff, until it succeeds, and later updates wait
behind it. Telegram keeps unconfirmed updates for 24 hours, so a database outage up to that long or a kill -9 at
any instant loses no answer; an update handled but not yet confirmed when the process died comes again, and
the runtime's processed-events de-duplication absorbs it.

In webhook mode (what several replicas need, since only one process may poll a bot) the adapter runs its own
aiohttp server instead: ``POST <path>`` checks the ``X-Telegram-Bot-Api-Secret-Token`` header (403 without
the right one), hands the update to the same handlers as polling and answers 200 only once it has been
handled, so Telegram re-delivers an update the bot failed on; ``GET /healthz`` answers 200 for a load
balancer. Every replica may receive every update; the runtime de-duplicates them by ``update_id``.

Inbound: a message in a private chat becomes ``InboundText`` (``/start TOKEN`` included: the runtime redeems
invites; a sticker or photo becomes its caption or an empty text, so it is answered with a hint; edits of
earlier messages are not answers and are ignored); a button press becomes ``InboundChoice``, answered at once
with ``answerCallbackQuery`` and then edited to show the chosen answer without its keyboard. Messages from
groups and channels are ignored: the bot serves private chats only. ``event_key`` is Telegram's ``update_id``
(for a button press, the callback query's id, which survives a re-delivery under a new update id), so the
runtime acts on each once. A ``my_chat_member`` update saying a private chat is now "kicked" (the user blocked
the bot) becomes ``InboundBlocked``.

Stopping loses nothing already fetched: a long poll still waiting is abandoned, a batch being handled is
handled to its end (each update awaits the runtime), one last ``getUpdates`` confirms what was handled, and
only then does the application shut down.

Outbound: each call is one Bot API request with no retry of its own (see ``adapters.sdk_clients``); errors
are classified into ``SendError`` for the outbox, which owns pacing and retries. Text is sent without
``parse_mode``, so Markdown or HTML a client typed reaches the coach as the characters typed, never as
formatting or a link; a text over Telegram's limit is shortened (``fit_text``) rather than refused for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import hmac
import json
import logging
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from adapters.http_server import start_http_server
from adapters.sdk_clients import TELEGRAM_API_URL, telegram_bot
from bot.contract.adapter import AdapterStartError, SendError
from bot.contract.fitting import fit_lines
from bot.contract.http_server import DEFAULT_LIMITS, HttpLimits
from bot.contract.messages import (
    COACH_STEP,
    InboundBlocked,
    InboundChoice,
    InboundEvent,
    InboundSink,
    InboundText,
    OutboundMessage,
)

log = logging.getLogger(__name__)

#: Telegram's limit on ``callback_data``, in bytes.
CALLBACK_DATA_LIMIT = 64
#: Telegram's limit on a photo caption, in characters.
CAPTION_LIMIT = 1024
#: Telegram's limit on a message's text, in characters. Both limits are checked in UTF-16 code units (an emoji
#: counts twice), which is never more lenient than Telegram, whichever way it counts.
TEXT_LIMIT = 4096
#: Seconds one ``getUpdates`` long poll waits for an update.
POLL_TIMEOUT = 10
#: Seconds before handing an update the runtime failed on over again, and before polling again after
#: ``getUpdates`` failed; doubled after each failure in a row, up to ``RETRY_CAP``.
RETRY_FIRST = 0.5
RETRY_CAP = 30.0
#: The update kinds the bot asks Telegram for, polling or webhook.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
#: The header Telegram sends the webhook's ``secret_token`` in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Seconds a stopping webhook server waits for requests in flight.
WEBHOOK_SHUTDOWN_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where Telegram posts updates (``url``), where this process listens, and the shared secret."""

    url: str
    #: Loopback unless configured: a reverse proxy on the host forwards, or ``listen`` names the interface.
    listen: str = "127.0.0.1"
    port: int = 8443
    secret_token: str = ""
    #: The path served; by default the path of ``url``.
    path: str | None = None
    limits: HttpLimits = DEFAULT_LIMITS

    @property
    def route(self) -> str:
        return self.path or urlsplit(self.url).path or "/"


#: Set while an update is processed (webhook or polling): whether handing it to the runtime failed.
_delivery_failed: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("delivery_failed", default=None)


def callback_data(checkin_id: int | None, step_key: str | None, value: str) -> str:
    """``"{checkin_id}:{step_key}:{value}"``; a ``SendError`` if it is over Telegram's 64 bytes."""
    data = f"{checkin_id if checkin_id is not None else 0}:{step_key or ''}:{value}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise SendError(f"button data over {CALLBACK_DATA_LIMIT} bytes: {data!r}", permanent=True)
    return data


def telegram_length(text: str) -> int:
    """``text``'s length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def fit_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` within ``limit`` UTF-16 units, its longest lines shortened first (``fit_lines``).

    Telegram refuses a longer message for good ("message is too long"), so an alert quoting a 40,000-character
    note or a long digest would never arrive; a shortened one does, with its short lines (the suggestion for the
    next session among them) whole, and the note itself is stored whole.
    """
    return fit_lines(text, limit, telegram_length)


def parse_callback_data(data: str) -> tuple[int, str, str] | None:
    checkin, _, rest = data.partition(":")
    step_key, colon, value = rest.rpartition(":")  # step keys may hold colons ("progress:goal"), values do not
    if not colon or not checkin.isdecimal():
        return None
    return int(checkin), step_key, value


class _PollingRequest(HTTPXRequest):
    """The ``getUpdates`` client: an update python-telegram-bot cannot read is passed on emptied, not as a failure.

    The library reads a batch of updates all at once, and one it cannot read (a Bot API change such as a newly
    required field of a poll) makes its updater log the error and fetch the same batch again, forever: polling
    stalls and every later message waits. Emptied to its ``update_id``, that update is confirmed like any other
    and ignored, as the webhook server does with an update it cannot read.
    """

    def __init__(self) -> None:
        super().__init__(connection_pool_size=1)  # as the library's own getUpdates client

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(url, *args, **kwargs)
        if not url.endswith("/getUpdates") or status != 200:
            return status, payload
        try:
            answer = json.loads(payload)
        except ValueError:
            return status, payload  # the library reports it as it would have
        if isinstance(answer, dict) and isinstance(answer.get("result"), list):
            answer["result"] = [_readable(update) for update in answer["result"]]
        return status, json.dumps(answer).encode()


def _readable(update: Any) -> Any:
    """``update`` as received, or only its ``update_id`` if the library cannot read the rest."""
    try:
        Update.de_json(copy.deepcopy(update), None)
    except Exception:  # whatever the library fails on, as long as the update can still be confirmed
        if isinstance(update, dict) and isinstance(update.get("update_id"), int):
            log.warning("Telegram update %s could not be read and is ignored", update["update_id"])
            return {"update_id": update["update_id"]}
    return update


def without_token(text: str, token: str) -> str:
    """``text`` with the bot token blanked out.

    The token is part of every Bot API URL, and python-telegram-bot and httpx quote URLs (and the token itself,
    when Telegram refuses it) in their errors, which would otherwise reach a start error or a log line.
    """
    secret = token.partition(":")[2]
    for part in (token, secret):
        if len(part) >= 8:
            text = text.replace(part, "<bot token>")
    return text


async def fetch_bot_username(token: str, api_url: str = TELEGRAM_API_URL) -> str:
    """The bot's @username from ``getMe`` (for invite links); ``ConnectionError`` if Telegram does not answer,
    ``PermissionError`` if it refuses the token."""
    try:
        async with telegram_bot(token, api_url) as bot:
            return bot.username
    except InvalidToken as error:
        raise PermissionError("Telegram refused the bot token (platforms.telegram.bot_token)") from error
    except TelegramError as error:
        raise ConnectionError(f"Telegram did not answer getMe: {without_token(error.message, token)}") from error


class TelegramAdapter:
    name = "telegram"

    def __init__(
        self,
        token: str,
        api_url: str = TELEGRAM_API_URL,
        *,
        mode: str = "polling",
        webhook: WebhookSettings | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"unknown Telegram mode {mode!r}; expected 'polling' or 'webhook'")
        if mode == "webhook" and (webhook is None or not webhook.secret_token):
            raise ValueError("Telegram webhook mode needs WebhookSettings with a secret_token")
        self._mode = mode
        self._token = token
        self._webhook = webhook if mode == "webhook" else None
        # No updater in either mode: polling is the adapter's own loop (see the module's docstring).
        bot = telegram_bot(token, api_url, updates_request=_PollingRequest() if mode == "polling" else None)
        self._application = Application.builder().bot(bot).updater(None).build()
        self._application.add_handler(
            MessageHandler(
                filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, self._on_text
            )
        )
        self._application.add_handler(CallbackQueryHandler(self._on_callback))
        self._application.add_handler(ChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
        self._sink: InboundSink | None = None
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        #: Whether the poller is waiting for ``getUpdates`` (and may be cancelled) rather than handling updates.
        self._fetching = False
        #: The ``offset`` of the next ``getUpdates``: one past the last update handled.
        self._offset: int | None = None
        #: Whether an update was handled since ``_offset`` was last sent to Telegram.
        self._unconfirmed = False
        # Per client chat, the last question sent with a keyboard, so a typed answer can take it away
        # (in memory: after a restart an old button only gets "that button belongs to an earlier question").
        self._keyboards: dict[int, int] = {}
        #: Keyboards being taken off answered questions: edits that no update waits for.
        self._dropping: set[asyncio.Task[None]] = set()

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on once started (useful when 0 was asked for)."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def username(self) -> str:
        """The bot's @username, from ``getMe``, for invite links."""
        bot = self._application.bot
        if not self._application.running:
            await bot.initialize()
        return bot.username

    def _without_token(self, error: TelegramError) -> str:
        return without_token(error.message, self._token)

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        application = self._application
        try:
            await application.initialize()  # getMe: a wrong token fails here
        except InvalidToken as error:
            # Not the library's message: it quotes the token.
            raise AdapterStartError("Telegram refused the bot token (platforms.telegram.bot_token)") from error
        except TelegramError as error:
            raise AdapterStartError(f"Telegram could not be reached: {self._without_token(error)}") from error
        await application.start()
        if self._webhook is not None:
            await self._start_webhook(self._webhook)
            return
        try:
            # Telegram serves getUpdates only while no webhook is set; pending updates are kept.
            await application.bot.delete_webhook()
        except TelegramError as error:
            await application.stop()
            await application.shutdown()
            raise AdapterStartError(f"Telegram could not be reached: {self._without_token(error)}") from error
        self._stopping.clear()
        self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        application = self._application
        if not application.running:
            await application.bot.request.shutdown()  # a send made without ``start`` opened its session
            return
        if self._runner is not None:
            # Stops listening, waits for requests in flight (each awaits the runtime), then closes.
            await self._runner.cleanup()
            self._runner = None
        if self._poller is not None:
            await self._stop_polling(self._poller)
            self._poller = None
        await asyncio.gather(*self._dropping, return_exceptions=True)  # cosmetic edits, short: let them finish
        await application.stop()
        await application.shutdown()
        self._sink = None

    # ---- polling ----------------------------------------------------------------------------------------

    async def _poll(self) -> None:
        """Fetch updates and hand each to the runtime; confirm an update only once the runtime has it."""
        failures = 0
        while not self._stopping.is_set():
            self._fetching = True
            try:
                updates = await self._application.bot.get_updates(
                    offset=self._offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramError as error:
                failures += 1
                wait = _retry_wait(failures, error)
                log.warning("Telegram getUpdates failed (%s); polling again in %.1fs", self._without_token(error), wait)
                await self._pause(wait)
                continue
            except Exception:  # whatever else goes wrong, polling must not end while the bot runs
                failures += 1
                wait = _retry_wait(failures)
                log.exception("Telegram getUpdates failed unexpectedly; polling again in %.1fs", wait)
                await self._pause(wait)
                continue
            finally:
                self._fetching = False
            self._unconfirmed = False
            failures = 0
            if not await self._handle_batch(updates):
                return  # stopping while the runtime fails: Telegram delivers the rest again later

    async def _handle_batch(self, updates: Sequence[Update]) -> bool:
        """Hand a fetched batch to the runtime to its end, even while stopping: each chat's updates in order, the
        chats side by side, as webhook mode receives them; whether all were handled.

        One after another, every update waited for every update before it: a reply that completes a check-in
        (history read, signals, the coach's summary and alert) held up every other client's reply behind it.
        The offset confirms the updates handled up to the first that was not, which Telegram delivers again.
        """
        by_chat: dict[int | None, list[Update]] = defaultdict(list)
        for update in updates:
            by_chat[_whose(update)].append(update)
        handled: set[int] = set()

        async def in_order(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                if not await self._handle_until_done(update):
                    return
                handled.add(update.update_id)

        outcomes = await asyncio.gather(*(in_order(u) for u in by_chat.values()), return_exceptions=True)
        for update in updates:
            if update.update_id not in handled:
                break
            self._offset = update.update_id + 1
            self._unconfirmed = True
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return len(handled) == len(updates)

    async def _handle_until_done(self, update: Update) -> bool:
        """Hand ``update`` to the runtime until it succeeds; False if stopping cut the retries short."""
        failures = 0
        while True:
            if await self._process(update):
                return True
            if self._stopping.is_set():
                return False
            failures += 1
            wait = _retry_wait(failures)
            log.warning("Telegram update %s not handled; handing it over again in %.1fs", update.update_id, wait)
            await self._pause(wait)

    async def _process(self, update: Update) -> bool:
        """Run the handlers on ``update``; whether the runtime took it (or it was not for the runtime)."""
        failed: list[bool] = []
        token = _delivery_failed.set(failed)
        try:
            await self._application.process_update(update)  # the handlers run here and await the runtime
        finally:
            _delivery_failed.reset(token)
        return not failed

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the adapter is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _stop_polling(self, poller: asyncio.Task[None]) -> None:
        """Let a batch being handled finish, abandon a long poll, then confirm what was handled."""
        self._stopping.set()
        if self._fetching:
            poller.cancel()  # nothing was handled from this poll: Telegram still holds whatever it returns
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        if self._unconfirmed and self._offset is not None:
            try:
                await self._application.bot.get_updates(
                    offset=self._offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramError as error:  # the handled updates come again and are recognised as duplicates
                log.info("Telegram: handled updates not confirmed on stopping: %s", self._without_token(error))

    # ---- webhook ----------------------------------------------------------------------------------------

    async def _start_webhook(self, settings: WebhookSettings) -> None:
        runner = await start_http_server(
            what="Telegram webhook",
            path=settings.route,
            handler=self._on_webhook,
            listen=settings.listen,
            port=settings.port,
            limits=settings.limits,
            shutdown_timeout=WEBHOOK_SHUTDOWN_TIMEOUT,
        )
        try:
            # Not dropping pending updates: whatever Telegram holds is delivered to the new webhook.
            await self._application.bot.set_webhook(
                settings.url, secret_token=settings.secret_token, allowed_updates=ALLOWED_UPDATES
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("Telegram webhook listening on %s:%s%s", settings.listen, self.webhook_port, settings.route)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        assert self._webhook is not None
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._webhook.secret_token.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        if not isinstance(data, dict):
            return web.Response(status=400, text="not an update")
        try:
            update = Update.de_json(data, self._application.bot)
        except Exception:  # a malformed update is answered 200, or Telegram would deliver it again and again
            # Only the id: the update may hold what a client wrote, which logs must never contain.
            log.warning("Telegram webhook: update %s could not be read and is ignored", data.get("update_id"))
            return web.Response(text="ignored")
        if not await self._process(update):
            return web.Response(status=500, text="not handled")  # Telegram delivers it again
        return web.Response(text="ok")

    # ---- inbound ----------------------------------------------------------------------------------------

    async def _deliver(self, event: InboundEvent) -> bool:
        """Hand an event to the runtime; whether it took it.

        A failure is marked for ``_process``, so the update is not confirmed (polling) or is answered 500
        (webhook) and comes again. Only the error's type is logged: its message may quote what a client wrote.
        """
        assert self._sink is not None
        try:
            await self._sink(event)
        except Exception as error:
            log.warning("Telegram event %s not handled: %s", event.event_key, type(error).__name__)
            failed = _delivery_failed.get()
            if failed is not None:
                failed.append(True)
            return False
        return True

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if self._sink is None or message is None:
            return
        # A sticker, photo or voice note is not an answer, but it is not ignored either: as an empty text (or
        # its caption) it gets the same hint as any other reply the bot cannot read.
        text = message.text if message.text is not None else message.caption or ""
        answered = self._keyboards.get(message.chat.id)
        await self._deliver(InboundText(self.name, str(message.chat.id), str(update.update_id), text))
        if answered is not None:
            if self._keyboards.get(message.chat.id) == answered:  # a newer question may have been sent meanwhile
                del self._keyboards[message.chat.id]
            # Not awaited: a chat's updates are handled one after another and a batch waits for all its chats,
            # so a round trip to Telegram for every typed answer would hold up that chat and the next batch.
            task = asyncio.create_task(self._drop_keyboard(message.chat.id, answered), name="telegram-drop-keyboard")
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _drop_keyboard(self, chat_id: int, message_id: int) -> None:
        """Take the keyboard off a question the client answered by typing, as a press would have."""
        try:
            await self._application.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except TelegramError as error:
            log.info("message %s not edited after a typed answer: %s", message_id, error)

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        member = update.my_chat_member
        if self._sink is None or member is None or member.chat.type != "private":
            return
        if member.new_chat_member.status == "kicked":  # the user blocked the bot
            await self._deliver(InboundBlocked(self.name, str(member.chat.id), str(update.update_id)))

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if self._sink is None or query is None:
            return
        message = query.message
        if message is not None and message.chat.type != "private":
            return
        try:
            await query.answer()  # stops the client's spinner whatever happens next
        except TelegramError as error:
            log.info("callback query %s not answered: %s", query.id, error)
        parsed = parse_callback_data(query.data or "")
        chat_id = message.chat.id if message is not None else query.from_user.id
        if parsed is None:
            log.info("callback query %s with unknown data ignored", query.id)
            return
        checkin_id, step_key, value = parsed
        # Keyed by the callback query's id, which a re-delivered update and a repeated query share.
        event = InboundChoice(self.name, str(chat_id), f"callback:{query.id}", checkin_id, step_key, value)
        if await self._deliver(event) and isinstance(message, Message):
            if self._keyboards.get(message.chat.id) == message.message_id:
                del self._keyboards[message.chat.id]
            await self._show_choice(message, query.data or "", command=step_key == COACH_STEP)

    @staticmethod
    async def _show_choice(message: Message, data: str, *, command: bool) -> None:
        """Edit the question to show the answer picked, and take its keyboard away; after a ``command`` button
        (see ``COACH_STEP``) only the pressed button goes and the message's other commands stay."""
        markup = message.reply_markup
        rows = markup.inline_keyboard if markup is not None else ()
        # A button is known by what it does: the check-in id its data carries may differ (0 for none).
        pressed = _command_of(data)
        label = next(
            (button.text for row in rows for button in row if _command_of(button.callback_data) == pressed), None
        )
        others = (
            [kept for row in rows if (kept := [b for b in row if _command_of(b.callback_data) != pressed])]
            if command
            else []
        )
        remaining = InlineKeyboardMarkup(others) if others else None
        try:
            if message.text is not None and label is not None:
                await message.edit_text(fit_text(f"{message.text}\n\n→ {label}"), reply_markup=remaining)
            else:
                await message.edit_reply_markup(reply_markup=remaining)
        except TelegramError as error:
            log.info("message %s not edited after a button press: %s", message.message_id, error)

    # ---- outbound ---------------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        try:
            chat_id = int(message.recipient)
        except ValueError:
            raise SendError(f"not a Telegram chat id: {message.recipient!r}", permanent=True) from None
        markup = (
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            c.label, callback_data=callback_data(message.checkin_id, message.step_key, c.value)
                        )
                    ]
                    for c in message.choices
                ]
            )
            if message.choices
            else None
        )
        bot = self._application.bot
        try:
            if message.image_png is None:
                sent = await bot.send_message(chat_id, fit_text(message.text), reply_markup=markup)
            elif telegram_length(message.text) <= CAPTION_LIMIT:
                sent = await bot.send_photo(chat_id, message.image_png, caption=message.text, reply_markup=markup)
            else:  # too long for a caption: the chart first, then the text with its buttons
                await bot.send_photo(chat_id, message.image_png)
                sent = await bot.send_message(chat_id, fit_text(message.text), reply_markup=markup)
        except TelegramError as error:
            raise classify(error) from error
        if markup is not None and message.audience == "client":
            self._keyboards[chat_id] = sent.message_id
        return str(sent.message_id)


def _whose(update: Update) -> int | None:
    """Whose updates ``update`` keeps its order among: its chat's, or, for a press on a message Telegram no longer
    sends along (an old one), the person's, which is the same number in the private chats the bot serves."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


def _retry_wait(failures: int, error: TelegramError | None = None) -> float:
    """Seconds to wait after ``failures`` failures in a row; never less than a flood-control wait."""
    wait: float = min(RETRY_CAP, RETRY_FIRST * 2.0 ** (failures - 1))
    if isinstance(error, RetryAfter):
        wait = max(wait, float(classify(error).retry_after or 0.0))
    return wait


def _command_of(data: object) -> tuple[str, str] | None:
    """The step and value of a button's callback data, without the check-in id."""
    parsed = parse_callback_data(data) if isinstance(data, str) else None
    return (parsed[1], parsed[2]) if parsed is not None else None


def classify(error: TelegramError) -> SendError:
    """What a failed Bot API call means for the outbox."""
    if isinstance(error, RetryAfter):
        with warnings.catch_warnings():  # the int/timedelta migration warns on access
            warnings.simplefilter("ignore")
            wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        # The Bot API does not say whether the per-chat or the overall limit was hit.
        return SendError(f"Telegram flood control: {error.message}", retry_after=seconds, scope="recipient")
    if isinstance(error, Forbidden):
        return SendError(error.message, permanent=True)
    if isinstance(error, BadRequest):
        # "chat not found" and malformed requests alike: sending the same request again cannot help.
        return SendError(error.message, permanent=True)
    if isinstance(error, TimedOut):
        return SendError(f"Telegram timed out: {error.message}", ambiguous=True)
    if isinstance(error, NetworkError):
        return SendError(f"Telegram unavailable: {error.message}")
    return SendError(f"Telegram error: {error.message}")
