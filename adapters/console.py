"""The terminal as a chat platform, for the demo and for trying question sets without any tokens.

It fulfils the same adapter contract as Slack and Telegram, so the demo exercises the real runtime,
store, outbox and alert path. Buttons become numbered options: typing the number presses the button.
Messages for the coach are printed in a box of their own, since the terminal stands in for the coach's DM too.
"""

from __future__ import annotations

import itertools
from typing import TextIO

from bot.messages import InboundChoice, InboundSink, InboundText, OutboundMessage


class ConsoleAdapter:
    name = "console"

    def __init__(self, player: str, out: TextIO) -> None:
        """``player`` is the person id the terminal user speaks as."""
        self._player = player
        self._out = out
        self._sink: InboundSink | None = None
        self._last_question: OutboundMessage | None = None
        self._sequence = itertools.count(1)
        self._event_keys = itertools.count(1)

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    async def send(self, message: OutboundMessage) -> str:
        reference = f"console-{next(self._sequence)}"
        if message.recipient != self._player:
            self._print_for_other(message)
            return reference
        self._out.write(f"\nbot: {message.text}\n")
        for number, choice in enumerate(message.choices, start=1):
            self._out.write(f"  {number}) {choice.label}\n")
        self._out.flush()
        self._last_question = message if message.choices else None
        return reference

    async def type_line(self, line: str) -> None:
        """Hand one typed line to the bot; a bare option number presses that option's button."""
        if self._sink is None:
            raise RuntimeError("the console adapter is not started")
        key = f"line-{next(self._event_keys)}"
        choice = self._numbered_choice(line, key)
        await self._sink(choice if choice is not None else InboundText(self.name, self._player, key, line))

    def _numbered_choice(self, line: str, key: str) -> InboundChoice | None:
        question = self._last_question
        text = line.strip()
        if question is None or question.checkin_id is None or question.step_key is None or not text.isdecimal():
            return None
        index = int(text) - 1
        if not 0 <= index < len(question.choices):
            return None
        value = question.choices[index].value
        return InboundChoice(self.name, self._player, key, question.checkin_id, question.step_key, value)

    def _print_for_other(self, message: OutboundMessage) -> None:
        rule = "─" * 60
        self._out.write(f"\n┌{rule}\n│ message to {message.audience} '{message.recipient}'\n├{rule}\n")
        for line in message.text.splitlines():
            self._out.write(f"│ {line}\n")
        self._out.write(f"└{rule}\n")
        self._out.flush()
