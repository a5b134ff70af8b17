"""The terminal as a chat platform: for the demo, and for running the bot locally without any tokens.

It fulfils the same adapter contract as Slack and Telegram, so what runs through it is the real runtime,
store, outbox, scheduler and alert path. Buttons become numbered options: typing the number presses the
button, for a client's answers and a coach's alert buttons alike. The numbers stay those of the latest
message with buttons, as buttons stay pressable in a chat while other messages arrive. Enter on an empty
line, as in any terminal, takes the only button a question offers: the Skip of an optional question.

Two ways to speak: with a ``player`` (the demo) every line is that person's; without one (``checkin run
--console``) a line names its speaker, ``dana: 4``, and every message for anyone is printed with its
recipient, so one terminal can follow a whole practice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from bot.contract.messages import InboundChoice, InboundSink, InboundText, OutboundMessage
from bot.contract.stopping import finish_or_cancel

#: Seconds ``stop`` waits for a typed line's handling to commit before cancelling it.
STOP_GRACE = 2.0


class ConsoleAdapter:
    name = "console"

    def __init__(
        self, out: TextIO, *, player: str | None = None, source: TextIO | None = None, image_dir: Path | None = None
    ) -> None:
        """``source``, when given, is read line by line from ``start`` on; the demo feeds lines itself.

        A terminal cannot show an image, so attached charts are written to ``image_dir`` and their path is
        printed. By default that is a folder of the adapter's own in the system's temporary folder, readable by
        its owner only and removed with the charts in it when the adapter stops: a chart shows how a client is
        doing, so it must not linger world-readable in /tmp. Chart files are created 0600 either way.
        """
        self._out = out
        self._image_dir = image_dir
        self._own_image_dir: Path | None = None
        self._player = player
        self._source = source
        self._sink: InboundSink | None = None
        self._reader: asyncio.Task[None] | None = None
        #: Whether the reader is handing a line to the bot (``stop`` lets that finish) rather than waiting for one.
        self._handling = False
        self._stopping = False
        self._last_question: dict[str, OutboundMessage] = {}
        self._sequence = itertools.count(1)
        self._event_keys = itertools.count(1)

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        self._stopping = False
        if self._source is not None:
            self._reader = asyncio.create_task(self._read_source(self._source), name="console-input")

    async def stop(self) -> None:
        """Stop reading; a line being handled is let commit, up to ``STOP_GRACE``.

        Cancelled inside its transaction the line's handling would roll back, and the database driver logs a
        traceback on the way; a reader merely waiting for input is cancelled at once.
        """
        if self._reader is not None:
            self._stopping = True
            if not self._handling:
                self._reader.cancel()  # waiting for input: nothing to finish
            await finish_or_cancel({self._reader}, STOP_GRACE)
            self._reader = None
        self._sink = None
        if self._own_image_dir is not None:
            shutil.rmtree(self._own_image_dir, ignore_errors=True)
            self._own_image_dir = None

    async def send(self, message: OutboundMessage) -> str:
        reference = f"console-{next(self._sequence)}"
        if self._player is not None and message.recipient != self._player:
            self._print_boxed(message, self._save_image(message, reference))
            return reference
        prefix = "bot" if self._player is not None else f"[to {message.audience} {message.recipient}]"
        self._out.write(f"\n{prefix}: {message.text}\n")
        for number, choice in enumerate(message.choices, start=1):
            self._out.write(f"  {number}) {choice.label}\n")
        image = self._save_image(message, reference)
        if image is not None:
            self._out.write(f"  [chart: {image}]\n")
        self._out.flush()
        if message.choices:
            self._last_question[message.recipient] = message
        return reference

    async def type_line(self, line: str) -> None:
        """Hand one typed line to the bot; a bare option number presses that option's button, and an empty
        line the only button there is."""
        if self._sink is None:
            raise RuntimeError("the console adapter is not started")
        speaker, text = self._speaker(line)
        if speaker is None:
            self._out.write('Start the line with who is speaking, for example "dana: 4".\n')
            self._out.flush()
            return
        key = f"line-{next(self._event_keys)}"
        choice = self._pressed(speaker, text, key)
        await self._sink(choice if choice is not None else InboundText(self.name, speaker, key, text))

    def _speaker(self, line: str) -> tuple[str | None, str]:
        if self._player is not None:
            return self._player, line
        speaker, colon, text = line.partition(":")
        if not colon or not speaker.strip() or " " in speaker.strip():
            return None, line
        return speaker.strip(), text.strip()

    def _pressed(self, speaker: str, text: str, key: str) -> InboundChoice | None:
        """The button a line presses on the speaker's latest message with buttons, if it presses one."""
        question = self._last_question.get(speaker)
        if question is None or question.checkin_id is None or question.step_key is None:
            return None
        text = text.strip()
        if not text and len(question.choices) == 1:
            index = 0
        elif text.isdecimal() and 1 <= int(text) <= len(question.choices):
            index = int(text) - 1
        else:
            return None
        value = question.choices[index].value
        return InboundChoice(self.name, speaker, key, question.checkin_id, question.step_key, value)

    def _save_image(self, message: OutboundMessage, reference: str) -> Path | None:
        if message.image_png is None:
            return None
        directory = self._image_dir
        if directory is None:
            if self._own_image_dir is None:
                self._own_image_dir = Path(tempfile.mkdtemp(prefix="checkin-charts-"))  # created 0700
            directory = self._own_image_dir
        path = directory / f"checkin-{message.recipient}-{reference}.png"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(message.image_png)
        return path

    def _print_boxed(self, message: OutboundMessage, image: Path | None) -> None:
        rule = "─" * 60
        self._out.write(f"\n┌{rule}\n│ message to {message.audience} '{message.recipient}'\n├{rule}\n")
        for line in message.text.splitlines():
            self._out.write(f"│ {line}\n")
        if message.choices:
            self._out.write(f"│ [buttons: {' | '.join(choice.label for choice in message.choices)}]\n")
        if image is not None:
            self._out.write(f"│ [chart: {image}]\n")
        self._out.write(f"└{rule}\n")
        self._out.flush()

    async def _read_source(self, source: TextIO) -> None:
        while not self._stopping and (line := await read_line(source)):
            self._handling = True
            try:
                await self.type_line(line.rstrip("\r\n"))
            finally:
                self._handling = False


async def read_line(stream: TextIO) -> str:
    """Read one line without blocking the loop; ``""`` at end of input.

    The read runs in a daemon thread so Ctrl-C is not held up by a read that may never return
    (``asyncio.to_thread`` would make the interpreter wait for it at exit).
    """
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            result = stream.readline()
        except (OSError, ValueError):  # a closed or unreadable stream ends input like end of file
            result = ""

        def deliver() -> None:
            if not line.done():
                line.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop may be gone after Ctrl-C
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await line
