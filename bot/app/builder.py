"""The one place that knows how the runtime's parts fit: ``build_bot`` assembles them, ``Bot`` runs them.

The parts: ``Inbound`` is the adapters' sink; ``Lifecycle`` starts, reminds and expires check-ins (dispatch,
the demo and ``send-now`` use it); ``Housekeeping`` does the sweep's other chores; the ``OutboxWorker`` sends
what they all queue and reports a client the platform refused for good to ``Inbound``. ``LiveSetup`` holds
the config with the coaching parts built from it, and ``Bot.reconfigure`` replaces it.

Start, in order: the database (migrated), the config's people mirrored into it, the outbox worker, the inbound
spool (which first handles what a stopped process left in it), then the adapters, so nothing arrives before the
bot can handle it. Stop goes the other way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from bot.coaching.brief import SessionBriefs
from bot.coaching.desk import CoachDesk
from bot.coaching.notices import CoachNotices
from bot.config import Config
from bot.contract.adapter import Adapter
from bot.contract.messages import InboundSink
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog
from bot.delivery.outbox import OutboxWorker
from bot.delivery.ratelimit import RateLimits
from bot.observability.metrics import Metrics
from bot.runtime.housekeeping import Housekeeping
from bot.runtime.inbound import Inbound
from bot.runtime.lifecycle import Lifecycle
from bot.runtime.setup import Addresses, LiveSetup, Setup
from bot.runtime.spool import Spool
from bot.scheduling.dispatch import DEFAULT_GRACE, Dispatcher
from bot.signals.detectors.words import load_risk_phrases
from bot.store import Database, people
from bot.store.keycheck import KeyMismatchError, check_keys
from bot.store.people import people_from_config
from bot.timing.clock import Clock

#: Builds the setup for a config and its question sets: at start, and again at each reload.
SetupFactory = Callable[[Config, Mapping[str, QuestionSet]], Setup]
#: Platforms that never deliver an event again once it is acknowledged, which happens before it is handled:
#: their events go through the durable spool. (Telegram confirms an update only after it was handled.)
SPOOLED_PLATFORMS = frozenset({"slack"})


class Bot:
    """The assembled runtime: its parts, started and stopped in one visible order, and reconfigured on reload."""

    def __init__(
        self,
        *,
        database: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        metrics: Metrics,
        outbox: OutboxWorker,
        setup: LiveSetup,
        setup_for: SetupFactory,
        inbound: Inbound,
        lifecycle: Lifecycle,
        housekeeping: Housekeeping,
        outbox_loop: bool,
        spool: Spool | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics
        self.outbox = outbox
        self.setup = setup
        self.inbound = inbound
        self.lifecycle = lifecycle
        self.housekeeping = housekeeping
        self._adapters = adapters
        self._clock = clock
        self._setup_for = setup_for
        self._outbox_loop = outbox_loop
        self._spool = spool

    @property
    def config(self) -> Config:
        """The config in force."""
        return self.setup.current.config

    async def start(self) -> None:
        await self.database.start()
        try:
            await check_keys(self.database)  # before anything reads or sends what the keys may not open
        except KeyMismatchError:
            await self.database.stop()
            raise
        await self._sync_people(self.config)
        try:
            if self._spool is not None:
                await self._spool.start()  # events a stopped process left are handled first
            for name, adapter in self._unique_adapters().items():
                await adapter.start(self._sink_for(name))
        except BaseException:
            await self.stop()  # a platform refused: close what did start, then let the caller report it
            raise
        # After the platforms: a refused token then stops a worker that never began a transaction, instead of
        # cancelling one mid-way (which left SQLAlchemy's traceback under the one-line reason).
        if self._outbox_loop:
            await self.outbox.start()

    async def stop(self) -> None:
        for adapter in self._unique_adapters().values():
            await adapter.stop()
        if self._spool is not None:
            await self._spool.stop()
        await self.outbox.stop()
        await self.database.stop()

    async def reconfigure(self, config: Config, question_sets: Mapping[str, QuestionSet]) -> None:
        """Take a new, already validated config: people are synced, history and open conversations stay.

        The database and platform settings are read at start only; `checkin reload` says so when they changed.
        """
        await self._sync_people(config)
        self.setup.current = self._setup_for(config, question_sets)

    def dispatcher(self, *, grace: timedelta = DEFAULT_GRACE) -> Dispatcher:
        """What decides which check-ins, reminders and chores are due, on this bot's parts."""
        return Dispatcher(
            setup=self.setup,
            database=self.database,
            lifecycle=self.lifecycle,
            housekeeping=self.housekeeping,
            clock=self._clock,
            grace=grace,
        )

    async def _sync_people(self, config: Config) -> None:
        coaches, clients = people_from_config(config)
        async with self.database.transaction() as session:
            await people.sync_people(session, coaches, clients, self._clock.now())

    def _unique_adapters(self) -> dict[str, Adapter]:
        """Each adapter once, by the first platform name it serves, though it may serve several."""
        seen: dict[int, tuple[str, Adapter]] = {}
        for name, adapter in self._adapters.items():
            seen.setdefault(id(adapter), (name, adapter))
        return dict(seen.values())

    def _sink_for(self, platform: str) -> InboundSink:
        if self._spool is not None and platform in SPOOLED_PLATFORMS:
            return self._spool
        return self.inbound.handle


def build_bot(
    *,
    config: Config,
    question_sets: Mapping[str, QuestionSet],
    texts: TextCatalog,
    database: Database,
    adapters: Mapping[str, Adapter],
    clock: Clock,
    worker_id: str,
    address_platform: str | None = None,
    outbox_loop: bool = True,
    rate_limits: Mapping[str, RateLimits] | None = None,
    spool: Path | None = None,
) -> Bot:
    """Assemble the runtime, not yet started.

    ``address_platform`` routes every person to one adapter by their id (the terminal uses it);
    ``outbox_loop=False`` leaves sending to whoever calls ``bot.outbox.drain()`` (the demo, admin commands,
    tests); ``rate_limits`` paces sending per platform, and a platform without limits is not paced; ``spool``
    is the directory where events of ``SPOOLED_PLATFORMS`` wait until handled (none: they go straight in).
    """
    metrics = Metrics()
    addresses = Addresses(address_platform)
    phrases = load_risk_phrases()

    # Two parts call back into parts built after them: the coach desk starts check-ins through the lifecycle,
    # which reads the setup the desk is part of; the outbox reports unreachable clients to the inbound side,
    # which wakes the outbox. Their callbacks look the target up when called, once every part exists.
    def setup_for(config: Config, question_sets: Mapping[str, QuestionSet]) -> Setup:
        english = texts.english  # coaches and alerts read English; clients their own language
        notices = CoachNotices(
            config=config,
            question_sets=question_sets,
            texts=english,
            phrases=phrases,
            metrics=metrics,
            address_of=addresses,
            attachments=outbox.attachments,
        )
        briefs = SessionBriefs(
            config=config,
            question_sets=question_sets,
            texts=english,
            alerts=config.alerts,
            address_of=addresses,
            tell_coach=notices.tell_coach,
        )
        desk = CoachDesk(
            texts=english,
            question_sets=dict(question_sets),
            alerts=config.alerts,
            start_checkins=lambda session, due, now: lifecycle.start_checkins_in(session, due, now),
            briefs=briefs,
            dashboard_url=config.dashboard.public_url if config.dashboard is not None else None,
        )
        return Setup(config, question_sets, texts, addresses, notices, desk, briefs)

    outbox = OutboxWorker(
        database,
        adapters,
        clock,
        worker_id=worker_id,
        lease=config.outbox.lease,
        give_up_after=config.outbox.give_up_after,
        rate_limits=rate_limits,
        on_permanent_failure=lambda message, reason: inbound.client_unreachable(message, reason),
        on_given_up=lambda message, count: inbound.messages_given_up(message, count),
        metrics=metrics,
    )
    setup = LiveSetup(setup_for(config, question_sets))
    lifecycle = Lifecycle(database=database, clock=clock, outbox=outbox, metrics=metrics, setup=setup)
    inbound = Inbound(
        database=database,
        clock=clock,
        outbox=outbox,
        metrics=metrics,
        setup=setup,
        lifecycle=lifecycle,
        adapters=adapters,
    )
    housekeeping = Housekeeping(database=database, clock=clock, outbox=outbox, setup=setup)
    return Bot(
        database=database,
        adapters=adapters,
        clock=clock,
        metrics=metrics,
        outbox=outbox,
        setup=setup,
        setup_for=setup_for,
        inbound=inbound,
        lifecycle=lifecycle,
        housekeeping=housekeeping,
        outbox_loop=outbox_loop,
        spool=Spool(spool, inbound.handle, sealer=database.sealer) if spool is not None else None,
    )
