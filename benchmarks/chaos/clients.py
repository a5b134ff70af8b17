"""Scripted clients: each answers the check-in in its chat as a person would, through the fake platform.

A client presses "4" on the newest question with buttons it has not answered, and types a note when the note
question arrives; it answers each question once, however often the question reached it. What it gave is
counted per client, so the ledger can compare it with what the database holds.

On Telegram an answer is an update: in long polling it is queued at the fake Bot API (which keeps it until
the bot confirms it); in webhook mode it is posted to a live replica, and posted again after a refusal, a 500
or a broken connection, as Telegram does. On Slack it is an envelope over Socket Mode.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from benchmarks.chaos.practice import NOTE_MARK, WEBHOOK_SECRET
from tests.fakes.fake_slack import FakeSlack, Posted
from tests.fakes.fake_telegram import FakeTelegram, SentMessage

#: How often the clients look at their chats.
LOOK_EVERY = 0.2
PRESSED = ":4"
SLACK_PRESSED = '"v":"4"}'


class Clients:
    """The answers given so far, per address; ``run`` until cancelled."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.given: Counter[str] = Counter()
        self._answered: dict[str, set[str]] = {address: set() for address in self.addresses}

    @property
    def answers_given(self) -> int:
        return sum(self.given.values())

    async def run(self) -> None:
        while True:
            newest = self.newest()
            for address in self.addresses:
                if (message := newest.get(address)) is not None:
                    self.look(address, message)
            await asyncio.sleep(LOOK_EVERY)

    def newest(self) -> dict[str, Any]:
        """The newest message in each chat, in one pass over the platform's records (which share this loop)."""
        raise NotImplementedError

    def look(self, address: str, newest: Any) -> None:
        raise NotImplementedError

    def first_time(self, address: str, key: str) -> bool:
        """Whether this client has not yet answered the question ``key``; it now has."""
        if key in self._answered[address]:
            return False
        self._answered[address].add(key)
        self.given[address] += 1
        return True


class TelegramClients(Clients):
    def __init__(self, fake: FakeTelegram, addresses: Sequence[str], send: Callable[[dict[str, Any]], object]) -> None:
        super().__init__(addresses)
        self._fake = fake
        self._send = send

    def newest(self) -> dict[str, Any]:
        return {str(chat): message for (chat, _), message in sorted(self._fake.messages.items())}

    def look(self, address: str, newest: SentMessage) -> None:
        chat = int(address)
        if NOTE_MARK in (newest.original or ""):  # the optional note has a skip button: the client types
            if self.first_time(address, "note"):
                self._send(self._fake.text_update(chat, "Steady week, thanks"))
        elif newest.reply_markup:
            data = next(
                (
                    b["callback_data"]
                    for row in newest.reply_markup["inline_keyboard"]
                    for b in row
                    if str(b["callback_data"]).endswith(PRESSED)
                ),
                None,
            )
            if data is not None and self.first_time(address, str(data).rpartition(":")[0]):
                self._send(self._fake.callback_update(chat, newest.message_id, str(data)))


class SlackClients(Clients):
    def __init__(self, fake: FakeSlack, addresses: Sequence[str]) -> None:
        super().__init__(addresses)
        self._fake = fake

    def newest(self) -> dict[str, Any]:
        return {f"U{channel[1:]}": message for (channel, _), message in self._fake.messages.items()}

    def look(self, address: str, newest: Posted) -> None:
        # A button's value is JSON: {"c": check-in, "s": step, "v": choice} (adapters/slack_blocks.py).
        buttons = [json.loads(b["value"]) for b in newest.buttons() if str(b["value"]).endswith(SLACK_PRESSED)]
        if NOTE_MARK in newest.text:
            if self.first_time(address, "note"):
                self._fake.push("events_api", self._fake.message_event(address, "Steady week, thanks"))
        elif buttons and self.first_time(address, f"{buttons[0]['c']}:{buttons[0]['s']}"):
            self._fake.push("interactive", self._fake.block_actions(address, newest, SLACK_PRESSED))


class WebhookPoster:
    """Telegram's side of webhook mode: every update posted until a replica answered 200."""

    def __init__(self, live_ports: Callable[[], Sequence[int]], rng: random.Random) -> None:
        self._live_ports = live_ports
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0

    async def __aenter__(self) -> WebhookPoster:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        assert self._session is not None
        await self._session.close()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def send(self, update: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._post(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, update: dict[str, Any]) -> None:
        assert self._session is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        while True:
            ports = self._live_ports()
            if ports:
                url = f"http://127.0.0.1:{self._rng.choice(list(ports))}/telegram"
                try:
                    async with self._session.post(url, json=update, headers=headers) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                self.refused += 1
            await asyncio.sleep(0.5)
