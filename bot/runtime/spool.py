"""A durable local spool for inbound events a platform will not deliver again once acknowledged (Slack's).

Slack hears back within three seconds, before the bot has handled an event, and never delivers an
acknowledged event again. An event handed to the spool is appended to a file and fsynced before the call
returns, then handled through the runtime's sink, again and again (0.5 s doubling to 30 s) until its
transaction commits, however long the database is away; only then is it marked done. Events from one
sender are handled in order, each after the one before it; other senders do not wait.

Each process writes its own file (``spool-<pid>-<random>.jsonl``) and holds an exclusive ``flock`` on it while
it runs. At start a process adopts every file in the directory that no live process holds (a process that
was killed, or a replica stopped for good on this host): it copies their unfinished events into its own file,
removes them and handles the events. Handling twice is harmless, because the runtime acts once per event key,
so a crash between handling and marking done only repeats a handling the database refuses.

The file is a log of JSON lines: ``{"add": n, "event": "..."}`` and ``{"done": n}``. An event holds what a
client wrote, so it is stored as the database stores free text: sealed under ``CHECKIN_ENCRYPTION_KEY`` when a
key is set; the folder is created 0700 and the files 0600 whatever the umask. It is emptied whenever nothing is
left to handle, so it stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import secrets
from collections import deque
from pathlib import Path
from typing import IO, Any

from bot.contract.messages import InboundBlocked, InboundChoice, InboundEvent, InboundSink, InboundText
from bot.contract.stopping import finish_or_cancel
from bot.store.sealing import PLAIN, Sealer, UnreadableSealError

log = logging.getLogger(__name__)

FIRST_WAIT = 0.5
LONGEST_WAIT = 30.0
#: Seconds ``stop`` waits for the events being handled to commit before cancelling their handling.
STOP_GRACE = 2.0
_KINDS: dict[str, type[InboundText] | type[InboundChoice] | type[InboundBlocked]] = {
    kind.__name__: kind for kind in (InboundText, InboundChoice, InboundBlocked)
}


def encode(event: InboundEvent, sealer: Sealer = PLAIN) -> str:
    """The event as the spool file keeps it: its JSON, sealed when ``sealer`` has a key."""
    return sealer.seal(json.dumps({"kind": type(event).__name__, **dataclasses.asdict(event)}))


def decode(stored: str, sealer: Sealer = PLAIN) -> InboundEvent:
    """The event behind ``encode``; ``UnreadableSealError`` when no configured key opens it."""
    fields = json.loads(sealer.open(stored))
    return _KINDS[fields.pop("kind")](**fields)


class Spool:
    """``await start()``, hand events to it as the adapter's sink (``await spool(event)``), ``await stop()``."""

    def __init__(
        self, directory: Path, handle: InboundSink, *, sealer: Sealer = PLAIN, first_wait: float = FIRST_WAIT
    ) -> None:
        self._directory = directory
        self._handle = handle
        self._sealer = sealer
        self._first_wait = first_wait
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._next = 0
        #: Events not yet handled, per sender, oldest first.
        self._queues: dict[tuple[str, str], deque[tuple[int, InboundEvent]]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._write = asyncio.Lock()
        #: Set by ``stop``: each sender's worker ends after the event in hand instead of inside its transaction.
        self._stopping = asyncio.Event()

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    async def start(self) -> None:
        self._stopping.clear()
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory.chmod(0o700)
        path = self._directory / f"spool-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._path = path
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8")
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        adopted = 0
        for orphan in sorted(self._directory.glob("spool-*.jsonl")):
            if orphan != path:
                adopted += await self._adopt(orphan)
        if adopted:
            log.warning("inbound spool: %s event(s) left by a stopped process are handled now", adopted)

    async def stop(self) -> None:
        """Stop handling; what is unhandled stays in the file for the next start (of this or another process).

        An event being handled is let commit, up to ``STOP_GRACE``: cancelled inside its transaction it would
        roll back harmlessly, but the driver logs a traceback on the way. A worker waiting to retry stops at once.
        """
        self._stopping.set()
        await finish_or_cancel(list(self._workers.values()), STOP_GRACE)
        self._workers.clear()
        if self._file is not None and self._path is not None:
            unhandled = self.pending
            self._file.close()  # releases the lock
            self._file = None
            if not unhandled:
                await asyncio.to_thread(self._path.unlink, missing_ok=True)
        self._queues.clear()

    async def __call__(self, event: InboundEvent) -> None:
        """Keep ``event`` on disk (fsynced), then have it handled; returns once it is safe, not once handled."""
        self._next += 1
        number = self._next
        async with self._write:  # queued under the lock, so emptying the file never drops it
            await self._append({"add": number, "event": encode(event, self._sealer)}, sync=True)
            self._enqueue(number, event)

    # ---- the file ------------------------------------------------------------------------------------------

    async def _append(self, record: dict[str, Any], *, sync: bool) -> None:
        """Write one line; the caller holds ``_write``."""
        assert self._file is not None, "the spool is not started"
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        if sync:
            await asyncio.to_thread(os.fsync, self._file.fileno())

    async def _adopt(self, orphan: Path) -> int:
        """Take over the unfinished events of a file no live process holds; 0 if one holds it, or if an event
        in it is sealed under a key this process lacks (the file waits for a process that holds the key)."""
        with orphan.open("r+", encoding="utf-8") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # a live process (another replica on this host) owns it
            try:
                events = _unfinished(file, self._sealer)
            except UnreadableSealError:
                log.error(
                    "inbound spool: %s holds events sealed with a key this process lacks; left for one that has it",
                    orphan.name,
                )
                return 0
            for event in events:
                await self(event)
            await asyncio.to_thread(orphan.unlink)
        return len(events)

    async def _forget(self, number: int) -> None:
        async with self._write:
            await self._append({"done": number}, sync=False)  # lost in a crash, it only repeats a handling
            if not self.pending and self._file is not None:
                self._file.truncate(0)  # nothing is owed: start the log afresh

    # ---- handling --------------------------------------------------------------------------------------------

    def _enqueue(self, number: int, event: InboundEvent) -> None:
        sender = (event.platform, event.sender)
        self._queues.setdefault(sender, deque()).append((number, event))
        if sender not in self._workers:
            self._workers[sender] = asyncio.get_running_loop().create_task(
                self._work(sender), name=f"spool-{event.platform}"
            )

    async def _work(self, sender: tuple[str, str]) -> None:
        queue = self._queues[sender]
        try:
            while queue and not self._stopping.is_set():
                number, event = queue[0]
                if not await self._handle_until_done(event):
                    return
                queue.popleft()
                await self._forget(number)
        finally:
            if not queue:
                self._queues.pop(sender, None)
            if self._workers.get(sender) is asyncio.current_task():
                del self._workers[sender]

    async def _handle_until_done(self, event: InboundEvent) -> bool:
        """Handle ``event`` until it commits (True), or until a stop comes while waiting to retry (False)."""
        wait = self._first_wait
        while True:
            try:
                await self._handle(event)
                return True
            except Exception as error:  # only what failed is logged: the event may hold what a client wrote
                log.warning(
                    "inbound spool: %s event %s not handled (%s); trying again in %.1fs",
                    event.platform,
                    event.event_key,
                    type(error).__name__,
                    wait,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
            if self._stopping.is_set():
                return False
            wait = min(wait * 2, LONGEST_WAIT)


def _unfinished(file: IO[str], sealer: Sealer) -> list[InboundEvent]:
    """The events a spool file added and did not mark done, in order; a torn last line is skipped.
    ``UnreadableSealError`` when an event is sealed under a key ``sealer`` lacks."""
    added: dict[int, InboundEvent] = {}
    for line in file:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the torn last line of a process killed while writing
        if "add" in record:
            added[int(record["add"])] = decode(record["event"], sealer)
        elif "done" in record:
            added.pop(int(record["done"]), None)
    return list(added.values())
