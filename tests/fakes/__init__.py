"""The test doubles, all in this folder: fake servers on 127.0.0.1 and in-process stand-ins.

- ``fake_slack``, ``fake_telegram``: the platforms' Web/Bot APIs (and Socket Mode, webhooks) over real HTTP, for
  driving the real SDK clients in the adapters;
- ``fake_platform``: a plain rate-limited chat platform, with ``http_adapter`` the adapter that speaks to it,
  for outbox tests and the rate-limit benchmark;
- ``slow_sink``: an inbound sink whose handling lasts until the test lets it commit, for tests of a stop;
- here: ``CollectingAdapter``, which records what it is asked to send, and a runtime builder, for when what is
  under test is the runtime, the store and the outbox rather than a platform.

Every fake server binds port 0 and reports the port it got, so tests never race for a port.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import Path

from bot.app.builder import Bot, build_bot
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.adapter import Adapter, SendError
from bot.contract.messages import InboundSink, OutboundMessage
from bot.store import Database
from bot.timing.clock import Clock


class CollectingAdapter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.sink: InboundSink | None = None
        #: Failures to raise on the next sends, oldest first.
        self.failures: deque[SendError] = deque()

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    async def send(self, message: OutboundMessage) -> str:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(message)
        return f"{self.name}-{len(self.sent)}"

    def to(self, recipient: str) -> list[OutboundMessage]:
        return [m for m in self.sent if m.recipient == recipient]

    def clear(self) -> None:
        self.sent.clear()


def runtime_for(
    config_path: Path,
    database: Database,
    clock: Clock,
    adapters: Mapping[str, Adapter],
    *,
    worker_id: str = "test",
) -> Bot:
    """A runtime on the given config and database, its outbox drained by the test rather than a loop."""
    config = load_config(config_path)
    return build_bot(
        config=config,
        question_sets=load_question_sets(config, config_path),
        texts=load_catalog(),
        database=database,
        adapters=adapters,
        clock=clock,
        worker_id=worker_id,
        outbox_loop=False,
    )
