"""The inbound spool: an event handed over is on disk before the call returns and is handled until it commits.

The sink here fails the way the runtime's does while the database is away (it raises); the end-to-end proof, a
Slack Socket Mode bot through a real database outage, is ``benchmarks/chaos`` (``tests/test_chaos.py``).
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.contract.messages import InboundChoice, InboundEvent, InboundText
from bot.runtime import spool as spool_module
from bot.runtime.spool import Spool, encode
from bot.store.sealing import PLAIN, Sealer
from tests.fakes.slow_sink import SlowSink

WAIT = 0.01


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob("spool-*.jsonl"))


def text(sender: str, key: str, words: str = "fine") -> InboundText:
    return InboundText("slack", sender, key, words)


async def eventually(check: object, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # type: ignore[operator]  # noqa: ASYNC110 - the condition is the spool's work
            await asyncio.sleep(0.01)


async def handled_at_start(directory: Path, sealer: Sealer = PLAIN) -> list[InboundEvent]:
    """What a spool started on ``directory`` handles of the events left there (once it has handled one)."""
    handled: list[InboundEvent] = []

    async def record(event: InboundEvent) -> None:
        handled.append(event)

    spool = Spool(directory, record, sealer=sealer, first_wait=WAIT)
    await spool.start()
    await eventually(lambda: handled)
    await spool.stop()
    return handled


async def test_an_event_is_kept_on_disk_and_handled_again_until_it_commits(tmp_path: Path) -> None:
    handled: list[InboundEvent] = []
    failures = 3

    async def database_down_for_a_while(event: InboundEvent) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionRefusedError("the database is down")
        handled.append(event)

    spool = Spool(tmp_path, database_down_for_a_while, first_wait=WAIT)
    await spool.start()
    event = InboundChoice("slack", "U1", "action:D1:1.2", 7, "hope", "4")
    await spool(event)
    [file] = files(tmp_path)
    assert json.loads(file.read_text().splitlines()[0]) == {"add": 1, "event": encode(event)}  # before handling
    await eventually(lambda: handled)
    await eventually(lambda: file.stat().st_size == 0)  # nothing owed: the log is emptied
    await spool.stop()
    assert handled == [event]
    assert failures == 0
    assert not files(tmp_path)  # a clean stop with nothing owed leaves no file


async def test_a_senders_events_keep_their_order_and_others_do_not_wait(tmp_path: Path) -> None:
    handled: list[str] = []
    first_fails = 2

    async def sink(event: InboundEvent) -> None:
        nonlocal first_fails
        if event.event_key == "a1" and first_fails:
            first_fails -= 1
            raise ConnectionRefusedError
        handled.append(event.event_key)

    spool = Spool(tmp_path, sink, first_wait=0.2)
    await spool.start()
    for event in (text("U1", "a1"), text("U1", "a2"), text("U2", "b1")):
        await spool(event)
    await eventually(lambda: len(handled) == 3)
    await spool.stop()
    assert handled == ["b1", "a1", "a2"]


async def test_events_a_killed_process_left_are_adopted_and_handled_at_start(tmp_path: Path) -> None:
    # What a process killed with -9 leaves: two events added, one of them done, and a torn last line.
    left = tmp_path / "spool-4242-dead.jsonl"
    lines = [
        {"add": 1, "event": encode(text("U1", "e1"))},
        {"add": 2, "event": encode(text("U2", "e2", "see you"))},
        {"done": 1},
    ]
    left.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"add": 3, "ev')
    assert await handled_at_start(tmp_path) == [text("U2", "e2", "see you")]
    assert not left.exists()


async def test_a_file_a_live_process_holds_is_not_taken_from_it(tmp_path: Path) -> None:
    never: list[InboundEvent] = []

    async def stuck(event: InboundEvent) -> None:
        raise ConnectionRefusedError

    async def other(event: InboundEvent) -> None:
        never.append(event)

    first = Spool(tmp_path, stuck, first_wait=WAIT)
    await first.start()
    await first(text("U1", "e1"))
    second = Spool(tmp_path, other, first_wait=WAIT)
    await second.start()
    await asyncio.sleep(0.1)
    await second.stop()
    await first.stop()
    assert never == []
    [kept] = files(tmp_path)  # the first stopped owing the event: it stays for the next start
    third = Spool(tmp_path, other, first_wait=WAIT)
    await third.start()
    await eventually(lambda: never)
    await third.stop()
    assert [e.event_key for e in never] == ["e1"]
    assert not kept.exists()


async def test_what_a_client_wrote_is_sealed_in_a_private_file_and_waits_for_a_process_with_the_key(
    tmp_path: Path,
) -> None:
    """The spool holds raw events, words included: sealed under the key like the database's free text, in a
    folder and files only the bot's user can read; a file sealed under a key this process lacks is left for one
    that holds it, not dropped."""
    folder = tmp_path / "spool"
    key = Fernet.generate_key()

    async def stuck(event: InboundEvent) -> None:
        raise ConnectionRefusedError

    first = Spool(folder, stuck, sealer=Sealer([key]), first_wait=WAIT)
    await first.start()
    await first(text("U1", "e1", "I dread our sessions"))
    await first.stop()
    [kept] = files(folder)
    assert "dread" not in kept.read_text()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    handled: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> None:
        handled.append(event)

    without_the_key = Spool(folder, sink, sealer=Sealer([Fernet.generate_key()]), first_wait=WAIT)
    await without_the_key.start()
    await without_the_key.stop()
    assert handled == []
    assert kept.exists()
    assert await handled_at_start(folder, Sealer([key])) == [text("U1", "e1", "I dread our sessions")]
    assert not kept.exists()


async def test_a_stop_lets_the_event_being_handled_commit_and_leaves_the_rest_on_disk(tmp_path: Path) -> None:
    """Cancelled inside its transaction, a handling rolled back and the driver logged a traceback on every stop
    that came while a client's answer was being stored."""
    sink = SlowSink()
    spool = Spool(tmp_path, sink, first_wait=WAIT)
    await spool.start()
    first, second = text("U1", "e1"), text("U1", "e2")
    await spool(first)
    await spool(second)
    await sink.stop_while_handling(spool.stop)
    assert (sink.handled, sink.cancelled) == ([first], [])
    assert len(files(tmp_path)) == 1  # the second event is owed to the next start
    assert await handled_at_start(tmp_path) == [second]


async def test_a_stop_ends_a_wait_to_retry_at_once_and_keeps_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the database is away a worker sleeps between tries (up to 30 s): a stop does not wait that out."""
    monkeypatch.setattr(spool_module, "STOP_GRACE", 600)
    tries: list[InboundEvent] = []

    async def database_down(event: InboundEvent) -> None:
        tries.append(event)
        raise ConnectionRefusedError("the database is down")

    spool = Spool(tmp_path, database_down, first_wait=600)
    await spool.start()
    event = text("U1", "e1")
    await spool(event)
    await eventually(lambda: tries)
    await asyncio.wait_for(spool.stop(), timeout=10)  # a hang guard: the grace and the wait are ten minutes
    assert tries == [event]
    [file] = files(tmp_path)
    assert [json.loads(line) for line in file.read_text().splitlines()] == [{"add": 1, "event": encode(event)}]
