"""Telegram through python-telegram-bot's ``Application``, sharing the bot's asyncio loop.

The application is driven with its lifecycle methods (``initialize``, ``start``, ``updater.start_polling``
and, in reverse, ``updater.stop``, ``stop``, ``shutdown``) rather than ``run_polling``, which would own the
loop. Only long polling is built; webhook mode (needed to run several replicas, since only one process may
poll a bot) is not.

Inbound: a text message in a private chat becomes ``InboundText`` (``/start TOKEN`` included: the runtime
redeems invites); a button press becomes ``InboundChoice``, answered at once with ``answerCallbackQuery`` and
then edited to show the chosen answer without its keyboard. Messages from groups and channels are ignored:
the bot serves private chats only. ``event_key`` is Telegram's ``update_id``, so a re-delivered update is
recognised by the runtime.

Stopping loses nothing already fetched: the updater stops polling first, then ``Application.stop`` handles
every update still in its queue (each awaits the runtime), and only then does the application shut down.

Outbound: each call is one Bot API request with no retry of its own (see ``adapters.sdk_clients``); errors
are classified into ``SendError`` for the outbox, which owns pacing and retries.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from adapters.base import SendError
from adapters.sdk_clients import TELEGRAM_API_URL, telegram_bot
from bot.messages import InboundChoice, InboundSink, InboundText, OutboundMessage

log = logging.getLogger(__name__)

#: Telegram's limit on ``callback_data``, in bytes.
CALLBACK_DATA_LIMIT = 64
#: Telegram's limit on a photo caption, in characters.
CAPTION_LIMIT = 1024
#: Seconds one ``getUpdates`` long poll waits for an update.
POLL_TIMEOUT = 10


def callback_data(checkin_id: int | None, step_key: str | None, value: str) -> str:
    """``"{checkin_id}:{step_key}:{value}"``; a ``SendError`` if it is over Telegram's 64 bytes."""
    data = f"{checkin_id if checkin_id is not None else 0}:{step_key or ''}:{value}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise SendError(f"button data over {CALLBACK_DATA_LIMIT} bytes: {data!r}", permanent=True)
    return data


def parse_callback_data(data: str) -> tuple[int, str, str] | None:
    checkin, _, rest = data.partition(":")
    step_key, colon, value = rest.rpartition(":")  # step keys may hold colons ("progress:goal"), values do not
    if not colon or not checkin.isdecimal():
        return None
    return int(checkin), step_key, value


async def fetch_bot_username(token: str, api_url: str = TELEGRAM_API_URL) -> str:
    """The bot's @username from ``getMe`` (for invite links); ``ConnectionError`` if Telegram does not answer."""
    try:
        async with telegram_bot(token, api_url) as bot:
            return bot.username
    except TelegramError as error:
        raise ConnectionError(f"Telegram did not answer getMe: {error.message}") from error


class TelegramAdapter:
    name = "telegram"

    def __init__(self, token: str, api_url: str = TELEGRAM_API_URL, *, mode: str = "polling") -> None:
        if mode != "polling":
            raise ValueError(f"Telegram mode {mode!r} is not available; only 'polling' is built")
        self._application = Application.builder().bot(telegram_bot(token, api_url)).build()
        self._application.add_handler(
            MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & filters.UpdateType.MESSAGE, self._on_text)
        )
        self._application.add_handler(CallbackQueryHandler(self._on_callback))
        self._sink: InboundSink | None = None

    async def username(self) -> str:
        """The bot's @username, from ``getMe``, for invite links."""
        bot = self._application.bot
        if not self._application.running:
            await bot.initialize()
        return bot.username

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        application = self._application
        await application.initialize()
        await application.start()
        updater = application.updater
        assert updater is not None  # the builder makes one unless told not to
        await updater.start_polling(
            timeout=timedelta(seconds=POLL_TIMEOUT), allowed_updates=["message", "callback_query"]
        )

    async def stop(self) -> None:
        application = self._application
        if not application.running:
            return
        updater = application.updater
        if updater is not None and updater.running:
            await updater.stop()  # no more fetching; what was fetched is still queued
        await application.stop()  # handles every queued update, awaiting the sink for each
        await application.shutdown()
        self._sink = None

    # ---- inbound ----------------------------------------------------------------------------------------

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if self._sink is None or message is None or message.text is None:
            return
        await self._sink(InboundText(self.name, str(message.chat.id), str(update.update_id), message.text))

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
            log.info("callback query %s with unknown data %r ignored", query.id, query.data)
            return
        checkin_id, step_key, value = parsed
        await self._sink(InboundChoice(self.name, str(chat_id), str(update.update_id), checkin_id, step_key, value))
        if isinstance(message, Message):
            await self._show_choice(message, query.data or "")

    @staticmethod
    async def _show_choice(message: Message, data: str) -> None:
        """Edit the question to show the answer picked, and take its keyboard away."""
        markup = message.reply_markup
        label = next(
            (
                button.text
                for row in (markup.inline_keyboard if markup is not None else ())
                for button in row
                if button.callback_data == data
            ),
            None,
        )
        try:
            if message.text is not None and label is not None:
                await message.edit_text(f"{message.text}\n\n→ {label}", reply_markup=None)
            else:
                await message.edit_reply_markup(reply_markup=None)
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
                sent = await bot.send_message(chat_id, message.text, reply_markup=markup)
            elif len(message.text) <= CAPTION_LIMIT:
                sent = await bot.send_photo(chat_id, message.image_png, caption=message.text, reply_markup=markup)
            else:  # too long for a caption: the chart first, then the text with its buttons
                await bot.send_photo(chat_id, message.image_png)
                sent = await bot.send_message(chat_id, message.text, reply_markup=markup)
        except TelegramError as error:
            raise classify(error) from error
        return str(sent.message_id)


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
