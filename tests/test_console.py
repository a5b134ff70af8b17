"""The terminal as every platform: `checkin run --console` (``serve_console``, in-process) and its adapter.

A console bot runs against a database like any other; `checkin send-now` from another terminal queues for the
address the config gives the client (Slack here), and the console must deliver that to the person, take their
typed answers and let their coach press the alert's buttons by number.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pytest

from adapters.console import ConsoleAdapter
from bot.app.serve import serve_console
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.messages import Choice, InboundChoice, InboundEvent, InboundText, OutboundMessage
from bot.timing.clock import SystemClock
from tests.checkin_cli import checkin
from tests.fakes.slow_sink import SlowSink

CONFIG = """
database: {{url: "{url}"}}
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  weekly: {{every: 1w, on: [mon], at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: UTC, digest: "off", slack: {{user_id: U0MAYA0001}}}}
clients:
  - {{id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: weekly, slack: {{user_id: U0DANA0001}}}}
"""


@dataclass
class ConsoleBot:
    """A console bot serving in this process: lines go to its standard input, its output is read back."""

    output: io.StringIO
    typing: TextIO

    def say(self, line: str) -> None:
        self.typing.write(line + "\n")
        self.typing.flush()

    async def wait_for(self, text: str, after: int = 0) -> int:
        """Where ``text`` first appears in the output from ``after`` on, once it has; fails after 60 s."""
        for _ in range(600):
            found = self.output.getvalue().find(text, after)
            if found >= 0:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} not printed; the console shows:\n{self.output.getvalue()[after:]}")


def _pipe() -> tuple[TextIO, TextIO]:
    """A terminal's standard input: what is written to the second end is read, line by line, from the first."""
    reading, writing = os.pipe()
    return open(reading, encoding="utf-8"), open(writing, "w", encoding="utf-8")


@contextlib.asynccontextmanager
async def console_bot(config_path: Path, url: str) -> AsyncIterator[ConsoleBot]:
    config = load_config(config_path)
    stdin, typing = _pipe()
    output = io.StringIO()
    with stdin, typing:
        bot = asyncio.create_task(
            serve_console(
                config=config,
                question_sets=load_question_sets(config, config_path),
                texts=load_catalog(),
                database_url=url,
                clock=SystemClock(),
                stdin=stdin,
                stdout=output,
            )
        )
        try:
            yield ConsoleBot(output, typing)
        finally:
            bot.cancel()  # as SIGTERM would: the scheduler, the outbox and the database stop in order
            with contextlib.suppress(asyncio.CancelledError):
                await bot


async def test_send_now_from_another_terminal_reaches_the_client_in_the_console(
    tmp_path: Path, cli_database_url: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=cli_database_url), encoding="utf-8")
    async with console_bot(config, cli_database_url) as bot:
        sent = await asyncio.to_thread(checkin, "send-now", "dana", "-c", str(config))
        assert sent.exit_code == 0, sent.stderr

        at = await bot.wait_for("[to client dana]: (1/")
        # Low trust, then a note for the coach; Enter leaves out the optional last question, as in any terminal.
        for answer, next_question in [
            ("4", "(2/"),
            ("4", "(3/"),
            ("1", "(4/"),
            ("4", "(5/"),
            ("4", "(follow-up) "),  # the repair question does not change the count (issue 13)
            ("Listen more", "(6/6)"),
        ]:
            bot.say(f"dana: {answer}")
            at = await bot.wait_for(f"[to client dana]: {next_question}", at)
        bot.say("dana: ")
        at = await bot.wait_for("[to client dana]: Thank you, that's everything.", at)

        at = await bot.wait_for("[to coach maya]: Check-in alert for Dana Whitfield (urgent)", at)
        # The alert's buttons stay pressable by number while other messages come in, as buttons in a chat do.
        bot.say("maya: clients")
        at = await bot.wait_for("[to coach maya]: ", at + 1)
        bot.say("maya: 1")
        await bot.wait_for("[to coach maya]: Acknowledged 1 alert(s).", at)
    assert "can no longer be reached" not in bot.output.getvalue()
    assert "Please type your answer in words" not in bot.output.getvalue()
    status = await asyncio.to_thread(checkin, "status", "-c", str(config))
    assert next(r for r in status.stdout.splitlines() if r.startswith("dana")).split()[2] == "active"


class Typed:
    """What the console hands the bot, line by line."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []

    async def __call__(self, event: InboundEvent) -> None:
        self.events.append(event)


SKIP = (Choice("skip", "Skip"),)
SCALE = tuple(Choice(str(n), str(n)) for n in range(1, 6))


@pytest.mark.parametrize("player", [None, "dana"])
async def test_enter_takes_the_only_button_and_nothing_else(player: str | None) -> None:
    typed = Typed()
    console = ConsoleAdapter(io.StringIO(), player=player)
    await console.start(typed)
    prefix = "" if player else "dana: "
    await console.send(OutboundMessage("console", "dana", "Anything else? (optional)", SKIP, 7, "note"))
    await console.type_line(prefix)
    await console.send(OutboundMessage("console", "dana", "How hopeful?", SCALE, 7, "hope"))
    await console.type_line(prefix)
    await console.type_line(prefix + "2")
    assert typed.events == [
        InboundChoice("console", "dana", "line-1", 7, "note", "skip"),
        InboundText("console", "dana", "line-2", ""),
        InboundChoice("console", "dana", "line-3", 7, "hope", "2"),
    ]


async def test_a_coach_presses_an_alert_button_by_number_after_other_messages() -> None:
    typed = Typed()
    console = ConsoleAdapter(io.StringIO())
    await console.start(typed)
    buttons = (Choice("ack 3", "Acknowledge"), Choice("checkin #3", "Send a check-in now"))
    await console.send(OutboundMessage("console", "maya", "Check-in alert", buttons, 9, "coach", audience="coach"))
    await console.send(OutboundMessage("console", "maya", "Your clients: ...", audience="coach"))
    await console.type_line("maya: 2")
    await console.type_line("maya: 3")
    assert typed.events == [
        InboundChoice("console", "maya", "line-1", 9, "coach", "checkin #3"),
        InboundText("console", "maya", "line-2", "3"),
    ]


async def test_a_stop_lets_a_typed_line_being_handled_commit_and_cancels_a_wait_for_input() -> None:
    """Cancelled inside its transaction, a typed line's handling rolled back and the driver logged a traceback
    when Ctrl-C came while the bot was storing an answer."""
    read_end, write_end = os.pipe()
    sink = SlowSink()

    with os.fdopen(read_end, encoding="utf-8") as source, os.fdopen(write_end, "w", encoding="utf-8") as typing:
        console = ConsoleAdapter(io.StringIO(), source=source)
        await console.start(sink)
        typing.write("dana: fine\n")
        typing.flush()
        await sink.stop_while_handling(console.stop)
        assert [(e.sender, getattr(e, "text", None)) for e in sink.handled] == [("dana", "fine")]
        assert sink.cancelled == []
        # Waiting for the next line (nothing typed), the reader is cancelled at once.
        await console.start(sink)
        await asyncio.wait_for(console.stop(), timeout=10)
