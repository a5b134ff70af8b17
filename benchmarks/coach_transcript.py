"""What a coach receives over 12 weeks of one simulated client, printed as plain text.

Not a timing: a transcript, so a coach can judge the messages before installing. Dana checks in every Monday;
trust slides from week 7, a note in week 8 says sessions were cancelled, and she recovers from week 10. The real
runtime plays it on SQLite in a temporary directory with a manual clock; the coach's chat is a collecting
adapter, and the coach acknowledges each alert the same evening, as a coach would.

    python -m benchmarks.coach_transcript

``make bench`` runs ``main()``, which prints one JSON line counting the messages instead.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app.builder import Bot, build_bot
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.messages import InboundSink, InboundText, OutboundMessage
from bot.store import Database
from bot.timing.clock import ManualClock

CONFIG = """
platforms:
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, telegram: {}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    telegram: {}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
"""
#: The first Monday, 09:00 in Paris.
FIRST_SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
COACH_ZONE = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Week:
    """One check-in: progress, hope, focus, trust, perspective, support, and what Dana writes."""

    scores: tuple[int, int, int, int, int, int]
    note: str | None = None
    repair: str | None = None


WEEKS = (
    Week((3, 4, 4, 4, 4, 4), note="Glad we started. Delegation is the thing I keep avoiding."),
    Week((3, 4, 4, 5, 4, 4)),
    Week((4, 4, 4, 4, 4, 5)),
    Week((4, 4, 5, 4, 4, 4), note="Handed the Q1 plan to Sam. Nervous but it went fine."),
    Week((4, 4, 4, 4, 4, 4)),
    Week((4, 4, 4, 4, 4, 4)),
    Week((3, 3, 3, 3, 3, 3)),
    Week(
        (3, 3, 3, 2, 3, 3),
        note="We cancelled two sessions in a row and I have lost the thread a bit.",
        repair="Keep the sessions we book, even short ones.",
    ),
    Week((3, 3, 3, 2, 3, 3)),
    Week((3, 4, 4, 3, 4, 4), note="Good to be back on a regular rhythm."),
    Week((4, 4, 4, 4, 4, 4)),
    Week((4, 5, 4, 5, 4, 5), note="Sam now runs the planning meeting."),
)


class CoachChat:
    """The coach's side of the chat platform: it keeps every message the coach is sent, with the time."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self.received: list[tuple[datetime, OutboundMessage]] = []

    async def start(self, sink: InboundSink) -> None:
        del sink

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> str:
        if message.audience == "coach":
            self.received.append((self._clock.now(), message))
        return str(len(self.received))


def replies(week: Week) -> list[str]:
    answers = [str(score) for score in week.scores]
    if min(week.scores[2:]) <= 2:  # a relationship answer this low brings the repair question
        answers.append(week.repair or "skip")
    answers.append(week.note or "skip")
    return answers


async def play(directory: Path) -> list[tuple[datetime, OutboundMessage]]:
    path = directory / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    clock = ManualClock(FIRST_SLOT - timedelta(hours=1))
    chat = CoachChat(clock)
    runtime: Bot = build_bot(
        config=config,
        question_sets=load_question_sets(config, path),
        texts=load_catalog(),
        database=Database(f"sqlite+aiosqlite:///{directory / 'transcript.sqlite3'}"),
        adapters={"console": chat},
        clock=clock,
        worker_id="transcript",
        address_platform="console",
        outbox_loop=False,
    )
    await runtime.start()
    try:
        for number, week in enumerate(WEEKS):
            slot = FIRST_SLOT + timedelta(weeks=number)
            clock.set(slot)
            await runtime.housekeeping.send_due_digests()
            await runtime.lifecycle.start_checkin("dana", slot)
            await runtime.outbox.drain()
            alerts_before = sum(bool(m.choices) for _, m in chat.received)
            for step, text in enumerate(replies(week)):
                clock.advance(timedelta(minutes=1))
                await runtime.inbound.handle(InboundText("console", "dana", f"w{number}-{step}", text))
                await runtime.outbox.drain()
            clock.set(slot + timedelta(hours=9))  # Monday evening: the coach acknowledges what alerted
            if sum(bool(m.choices) for _, m in chat.received) > alerts_before:
                await runtime.inbound.handle(InboundText("console", "maya", f"w{number}-ack", "ack"))
                await runtime.outbox.drain()
            clock.set(slot + timedelta(days=1, hours=1))  # the next morning's sweep
            await runtime.housekeeping.release_waiting()
            await runtime.housekeeping.resend_unacknowledged()
            await runtime.outbox.drain()
    finally:
        await runtime.stop()
    return chat.received


def render(received: list[tuple[datetime, OutboundMessage]]) -> str:
    lines = [
        f"What Maya Chen (coach) receives over {len(WEEKS)} weeks of Dana Whitfield's weekly check-ins.",
        "Trust slides from week 7; in week 8 Dana writes that sessions were cancelled; she recovers from week 10.",
    ]
    for at, message in received:
        local = at.astimezone(COACH_ZONE)
        lines += ["", f"── {local:%A} {local.day} {local:%B %Y}, {local:%H:%M} (London) ──", message.text]
        if message.choices:
            lines.append("[buttons: " + " | ".join(choice.label for choice in message.choices) + "]")
        if message.image_png is not None:
            lines.append("[trend chart attached]")
    return "\n".join(lines)


async def main() -> None:
    """For ``make bench``: one JSON line counting what the coach received (the transcript is run directly)."""
    with tempfile.TemporaryDirectory(prefix="coach-transcript-") as directory:
        received = await play(Path(directory))
    figures = {
        "bench": "coach_transcript",
        "weeks": len(WEEKS),
        "coach_messages": len(received),
        "alerts": sum(bool(m.choices) for _, m in received),
    }
    print(json.dumps(figures))


async def transcript() -> None:
    with tempfile.TemporaryDirectory(prefix="coach-transcript-") as directory:
        print(render(await play(Path(directory))))


if __name__ == "__main__":
    asyncio.run(transcript())
