"""One adapter standing in for every chat platform: how `checkin run --console` reaches everybody.

The console addresses people by their id, but messages can be queued for a real platform all the same:
`checkin send-now` from another terminal queues for the address the config gives the client (a Slack user,
a Telegram chat), and so did a bot that ran on Slack or Telegram before against the same database. Without
a stand-in those rows would find no adapter for their platform, fail for good, and mark the client
unreachable. ``standing_in`` registers the one adapter under every platform's name; a message for a
platform address is handed to it addressed to the person behind that address, so the terminal shows it to
``dana`` and a reply typed as ``dana`` answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.app.platforms import CHAT_PLATFORMS
from bot.contract.adapter import Adapter
from bot.contract.messages import InboundSink, OutboundMessage
from bot.store import Database, identities


def standing_in(adapter: Adapter, database: Database) -> Mapping[str, Adapter]:
    """``adapter`` under its own name and, translating addresses, under the name of every chat platform."""
    adapters: dict[str, Adapter] = {name: _StandIn(name, adapter, database) for name in CHAT_PLATFORMS}
    adapters[adapter.name] = adapter
    return adapters


class _StandIn:
    """Sends what was queued for platform ``name`` through ``adapter``, to the person behind the address.

    It receives nothing itself: the adapter it sends through is started, and delivers what people type, on
    its own.
    """

    def __init__(self, name: str, adapter: Adapter, database: Database) -> None:
        self.name = name
        self._adapter = adapter
        self._database = database

    async def start(self, sink: InboundSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> str:
        person = await self._person_behind(message)
        # Somebody no longer in the database is still shown the message, under the address it was queued for.
        recipient = person if person is not None else message.recipient
        return await self._adapter.send(replace(message, platform=self._adapter.name, recipient=recipient))

    async def _person_behind(self, message: OutboundMessage) -> str | None:
        """The id of the coach or client ``message`` is addressed to; a coach first for coach messages, since
        someone can be both and the console tells them apart by id."""
        finders = [identities.find_client_by_identity, identities.find_coach_by_identity]
        if message.audience == "coach":
            finders.reverse()
        async with self._database.session() as session:
            for find in finders:
                person = await find(session, message.platform, message.recipient)
                if person is not None:
                    return person.id
        return None
