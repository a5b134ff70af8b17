"""The one place where store, engine, signals, outbox and adapters meet.

Every inbound message and every dispatched check-in is one database transaction: the event is recorded as
processed, the conversation state advances, answers and client changes are written, and the replies go into
the outbox, all or nothing. A crash at any point therefore leaves either the old state or the new state with
its messages, and a platform's re-delivery of the same event finds it already processed.

Lifecycle, in order: ``start`` opens the database (migrating it), mirrors the config's people into it,
starts the outbox worker and finally the adapters, so nothing arrives before the bot can handle it;
``stop`` goes the other way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.coaching.commands import is_coach_command
from bot.coaching.desk import COACH_STEP, CoachDesk
from bot.coaching.notices import CoachNotices
from bot.config import Config
from bot.contract.adapter import Adapter, SendError
from bot.contract.messages import (
    InboundBlocked,
    InboundChoice,
    InboundEvent,
    InboundReply,
    InboundText,
    OutboundMessage,
)
from bot.conversation import engine
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import TextCatalog
from bot.delivery import outgoing
from bot.delivery.outbox import OutboxWorker
from bot.delivery.ratelimit import RateLimits
from bot.observability.metrics import Metrics, count_on_commit
from bot.signals.detectors.words import load_risk_phrases
from bot.store import Database, admin, repository
from bot.store.models import Alert, Answer, CheckIn, Client, Coach, Goal, TelegramInvite
from bot.store.people import address_of, people_from_config
from bot.timing.clock import Clock

log = logging.getLogger(__name__)

#: How long an inbound event id is remembered. Slack re-delivers within five minutes and Telegram re-sends
#: unconfirmed updates for a day at most, so a week leaves a wide margin.
EVENT_MEMORY = timedelta(days=7)

#: Check-in statuses in which the client is still expected to answer.
OPEN_STATUSES = ("sent", "in_progress")


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    """A check-in with its answers and alerts, as the coach sees it."""

    checkin: CheckIn
    answers: tuple[Answer, ...]
    alerts: tuple[Alert, ...]


class Runtime:
    def __init__(
        self,
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
    ) -> None:
        """``address_platform`` routes every person to one adapter by their id (the terminal uses it);
        ``rate_limits`` paces sending per platform, and a platform without limits is not paced."""
        self.config = config
        self._coach_names = {coach.id: coach.name for coach in config.coaches}
        self._phrases = load_risk_phrases()
        self._question_sets = question_sets
        self._catalog = texts
        self._texts = texts.english  # coaches, strangers and alerts read English; clients their own language
        self.database = database
        self._adapters = adapters
        self._clock = clock
        self._address_platform = address_platform
        self._outbox_loop = outbox_loop
        self.metrics = Metrics()
        self._coach_desk = self._new_coach_desk()
        self._notices = self._new_notices()
        self.outbox = OutboxWorker(
            database,
            adapters,
            clock,
            worker_id=worker_id,
            lease=config.outbox.lease,
            give_up_after=config.outbox.give_up_after,
            rate_limits=rate_limits,
            on_permanent_failure=self.client_unreachable,
            metrics=self.metrics,
        )

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.database.start()
        coaches, clients = people_from_config(self.config)
        async with self.database.transaction() as session:
            await repository.sync_people(session, coaches, clients, self._clock.now())
        if self._outbox_loop:
            await self.outbox.start()
        try:
            for adapter in self._unique_adapters():
                await adapter.start(self.handle_inbound)
        except BaseException:
            await self.stop()  # a platform refused: close what did start, then let the caller report it
            raise

    async def reconfigure(self, config: Config, question_sets: Mapping[str, QuestionSet]) -> None:
        """Take a new, already validated config: people are synced, history and open conversations stay.

        The database and platform settings are read at start only; `checkin reload` says so when they changed.
        """
        coaches, clients = people_from_config(config)
        async with self.database.transaction() as session:
            await repository.sync_people(session, coaches, clients, self._clock.now())
        self.config = config
        self._coach_names = {coach.id: coach.name for coach in config.coaches}
        self._question_sets = question_sets
        self._coach_desk = self._new_coach_desk()
        self._notices = self._new_notices()

    async def purge_expired_data(self) -> admin.Purged | None:
        """Apply ``retention_days``: delete what is older (see ``admin.purge_older_than``); None when unset."""
        if self.config.retention_days is None:
            return None
        cutoff = self._clock.now() - timedelta(days=self.config.retention_days)
        async with self.database.transaction() as session:
            return await admin.purge_older_than(session, cutoff)

    async def stop(self) -> None:
        for adapter in self._unique_adapters():
            await adapter.stop()
        await self.outbox.stop()
        await self.database.stop()

    def _unique_adapters(self) -> list[Adapter]:
        seen: dict[int, Adapter] = {}
        for adapter in self._adapters.values():
            seen.setdefault(id(adapter), adapter)
        return list(seen.values())

    # ---- dispatch -------------------------------------------------------------------------------------

    async def start_checkin(self, client_id: str, slot: datetime) -> int | None:
        """Start one check-in; ``None`` if there is nothing to send (see ``start_checkins``)."""
        return (await self.start_checkins([(client_id, slot)])).get(client_id)

    async def start_checkins(self, due: Sequence[tuple[str, datetime]]) -> dict[str, int]:
        """Claim each (client, slot) and queue its opening messages, all in one transaction.

        Returns client id -> check-in id for the check-ins this call started. A claim is an insert on the
        unique (client, slot): whoever loses it (another replica, a repeated pass over the same slot) sends
        nothing. Paused, opted-out, unreachable and removed clients are passed over. Batching matters:
        a practice's clients often share a slot, and one transaction per check-in would make the database's
        commit rate, not the platform, the ceiling.
        """
        now = self._clock.now()
        async with self.database.transaction() as session:
            won = await self._start_checkins_in(session, due, now)
        if won:
            self.outbox.wake()
        return won

    async def _start_checkins_in(
        self, session: AsyncSession, due: Sequence[tuple[str, datetime]], now: datetime
    ) -> dict[str, int]:
        """``start_checkins`` inside the caller's transaction (a coach's or client's "checkin now" uses it)."""
        ids = [client_id for client_id, _ in due]
        clients = {c.id: c for c in await session.scalars(select(Client).where(Client.id.in_(ids)))}
        goals = await self._active_goals(session, ids)
        plans: dict[str, tuple[Client, tuple[str, str], engine.Transition]] = {}
        claims: list[repository.Claim] = []
        for client_id, slot in due:
            client = clients.get(client_id)
            address = self._address(client) if client is not None else None
            if client is None or address is None or not self._reachable(client, now):
                log.info("check-in for %s not started: removed, paused, opted out or unreachable", client_id)
                continue
            first = client.privacy_notice_sent_at is None
            transition = engine.begin(self._context(client), goals.get(client_id, []), first_checkin=first)
            assert transition.state is not None
            plans[client_id] = (client, address, transition)
            claims.append(repository.Claim(client_id, slot, client.question_set, transition.state.to_json()))
        won = await repository.claim_checkins(session, claims, now)
        await repository.expire_superseded(session, won)
        rows = [
            row
            for client_id, checkin_id in won.items()
            for row in outgoing.outbox_rows(
                plans[client_id][1],
                plans[client_id][2].messages,
                checkin_id,
                f"checkin:{checkin_id}:open",
                # The outbox records the notice as given once it is delivered.
                notice_for=client_id if plans[client_id][0].privacy_notice_sent_at is None else None,
            )
        ]
        await repository.enqueue(session, rows, now)
        count_on_commit(session, self.metrics.checkins_sent, len(won))
        return won

    @staticmethod
    def _reachable(client: Client, now: datetime) -> bool:
        paused = client.paused_until is not None and client.paused_until > now
        return client.active and not paused and client.opted_out_at is None and client.unreachable_at is None

    async def remind(self, checkin_id: int, number: int) -> bool:
        """Send reminder ``number`` (1-based) for an open check-in; False if it is closed or already reminded.

        Several replicas sweep the same check-ins: the row lock and the ``reminders_sent`` check make the
        first one send and the others do nothing.
        """
        now = self._clock.now()
        async with self.database.transaction() as session:
            found = await self._locked_open_checkin(session, checkin_id)
            if found is None or found[0].reminders_sent >= number:
                return False
            checkin, client, state = found
            checkin.reminders_sent = number
            transition = engine.remind(self._context(client), state)
            await self._enqueue_to(
                session, client, transition, checkin.id, f"checkin:{checkin.id}:reminder:{number}", now
            )
        self.outbox.wake()
        return True

    async def expire(self, checkin_id: int) -> bool:
        """Close an unanswered check-in and tell the client; False if it was already closed."""
        now = self._clock.now()
        async with self.database.transaction() as session:
            found = await self._locked_open_checkin(session, checkin_id)
            if found is None:
                return False
            checkin, client, state = found
            transition = engine.expire(self._context(client), state)
            assert transition.state is not None
            checkin.status = "expired"
            checkin.last_activity_at = now
            checkin.state = transition.state.to_json()
            await self._enqueue_to(session, client, transition, checkin.id, f"checkin:{checkin.id}:expired", now)
            await self._notices.raise_alert(session, client, checkin, now)
        self.metrics.checkins_expired.inc()
        self.outbox.wake()
        return True

    @staticmethod
    async def _locked_open_checkin(
        session: AsyncSession, checkin_id: int
    ) -> tuple[CheckIn, Client, engine.ConversationState] | None:
        """The check-in, row-locked, with its client and state, if it is still waiting for answers."""
        checkin = await session.get(CheckIn, checkin_id, with_for_update=True)
        if checkin is None or checkin.status not in OPEN_STATUSES or checkin.state is None:
            return None
        client = await session.get(Client, checkin.client_id)
        assert client is not None  # a foreign key
        return checkin, client, engine.ConversationState.from_json(checkin.state)

    async def _enqueue_to(
        self,
        session: AsyncSession,
        client: Client,
        transition: engine.Transition,
        checkin_id: int,
        key_prefix: str,
        now: datetime,
    ) -> None:
        address = self._address(client)
        if address is None:
            log.warning("client %s has no reachable address; %s not sent", client.id, key_prefix)
            return
        await outgoing.queue(session, address, transition.messages, checkin_id, key_prefix, now)

    async def resend_unacknowledged(self) -> int:
        """Send each urgent alert nobody acknowledged in time once more (see ``CoachNotices``)."""
        async with self.database.transaction() as session:
            resent = await self._notices.resend_unacknowledged(session, self._clock.now())
        if resent:
            self.outbox.wake()
        return resent

    async def forget_old_events(self) -> int:
        """Keep the inbound de-duplication table small: drop event ids no platform will re-deliver."""
        async with self.database.transaction() as session:
            return await repository.forget_processed_events(session, self._clock.now() - EVENT_MEMORY)

    async def send_due_digests(self) -> int:
        """Queue each coach's digest once its period has begun; return how many were queued."""
        queued = await self._notices.queue_due_digests(self.database, self._clock.now())
        if queued:
            self.outbox.wake()
        return queued

    # ---- inbound --------------------------------------------------------------------------------------

    async def handle_inbound(self, event: InboundEvent) -> None:
        self.metrics.inbound_events.labels(event.platform).inc()
        if isinstance(event, InboundBlocked):
            # Marking is idempotent (an already unreachable client is left alone), so a re-delivery is harmless.
            await self.client_unreachable(
                OutboundMessage(event.platform, event.sender, ""), "bot was blocked by the user"
            )
            return
        if isinstance(event, InboundText) and (token := _start_token(event.text)) is not None:
            await self.redeem_invite(event, token)
            return
        now = self._clock.now()
        async with self.database.transaction() as session:
            person = await self._identify(session, event)
            if person is not None:
                if not await repository.remember_event(session, event.platform, event.event_key, now):
                    log.info("duplicate %s event %s ignored", event.platform, event.event_key)
                    return
                if isinstance(person, Coach):
                    await self._serve_coach(session, person, event, now)
                else:
                    if person.unreachable_at is not None:  # they wrote to us, so they can be reached again
                        await repository.clear_unreachable(session, person.id)
                    await self._converse(session, person, event, now)
        if person is None:
            await self._refuse(event)
        else:
            self.outbox.wake()

    async def _identify(self, session: AsyncSession, event: InboundReply) -> Client | Coach | None:
        """The client or coach behind an event. Someone who is both is the coach for whole coach commands and
        alert buttons, and the client otherwise; the coach is looked up only when the event could be theirs."""
        client = await repository.find_client_by_identity(session, event.platform, event.sender, event.sender_email)
        if client is not None and not self._is_for_coach(event):
            return client
        coach = await repository.find_coach_by_identity(session, event.platform, event.sender, event.sender_email)
        return coach if coach is not None else client

    def _is_for_coach(self, event: InboundReply) -> bool:
        if isinstance(event, InboundChoice):
            return event.step_key == COACH_STEP
        return is_coach_command(event.text, self._clock.now().date())

    async def _serve_coach(self, session: AsyncSession, coach: Coach, event: InboundReply, now: datetime) -> None:
        text = event.value if isinstance(event, InboundChoice) else event.text
        reply = await self._coach_desk.handle(session, coach, text, now)
        await outgoing.queue(
            session,
            (event.platform, event.sender),
            (engine.Outgoing(reply.text),),
            None,
            f"reply:{event.platform}:{event.event_key}",
            now,
            audience="coach",
            image_png=reply.image_png,
        )

    async def _converse(self, session: AsyncSession, client: Client, event: InboundReply, now: datetime) -> None:
        context = self._context(client)
        checkin = await repository.open_checkin_for_update(session, client.id)
        reply = _as_engine_event(event, checkin)
        if checkin is None or checkin.state is None:
            paused = client.paused_until is not None and client.paused_until > now
            transition = engine.handle_idle(
                context, reply, now, paused=paused, opted_out=client.opted_out_at is not None
            )
        else:
            state = engine.ConversationState.from_json(checkin.state)
            transition = engine.handle(context, state, reply, now)
            assert transition.state is not None
            checkin.state = transition.state.to_json()
            checkin.status = "in_progress"
            checkin.last_activity_at = now
        address = (event.platform, event.sender)
        key = f"reply:{event.platform}:{event.event_key}"
        # The client's replies go first so the outbox (which sends in id order) answers them before it
        # sends any alert this reply raised for their coach.
        await outgoing.queue(session, address, transition.messages, checkin.id if checkin else None, key, now)
        await self._apply(session, client, checkin, transition.effects, now)

    async def _apply(
        self,
        session: AsyncSession,
        client: Client,
        checkin: CheckIn | None,
        effects: Sequence[engine.Effect],
        now: datetime,
    ) -> None:
        for effect in effects:
            match effect:
                case engine.RecordAnswer() if checkin is not None:
                    await repository.upsert_answer(
                        session,
                        checkin.id,
                        effect.step_key,
                        effect.question_id,
                        effect.dimension,
                        effect.goal_id,
                        effect.value,
                        effect.text,
                        now,
                    )
                case engine.ClearAnswer() if checkin is not None:
                    await repository.delete_answer(session, checkin.id, effect.step_key)
                case engine.FinishCheckIn() if checkin is not None:
                    checkin.status = effect.status
                    checkin.completed_at = now
                    if effect.status == "completed":
                        count_on_commit(session, self.metrics.checkins_completed)
                        await self._notices.raise_alert(session, client, checkin, now)
                case engine.PauseClient():
                    await repository.set_client_pause(session, client.id, effect.until)
                case engine.OptOut():
                    await repository.set_client_opt_out(session, client.id, now)
                case engine.Resume():
                    await repository.set_client_pause(session, client.id, None)
                    await repository.set_client_opt_out(session, client.id, None)
                case engine.RequestCheckIn():
                    await self._start_checkins_in(session, [(client.id, now)], now)
                case _:
                    raise AssertionError(f"check-in effect {effect!r} arrived without an open check-in")

    async def redeem_invite(self, event: InboundText, token: str) -> None:
        """``/start TOKEN`` from a Telegram deep link: bind the chat to the invited person and greet them.

        The invite is single-use and expires (``repository.redeem_telegram_invite``); an unknown, used or
        expired token gets a polite refusal and nothing is stored, as for any stranger.
        """
        now = self._clock.now()
        try:
            chat_id = int(event.sender)
        except ValueError:
            chat_id = None
        greeting: str | None = None
        if chat_id is not None:
            async with self.database.transaction() as session:
                invite = await repository.redeem_telegram_invite(session, token, chat_id, now)
                if invite is None:
                    used = await session.get(TelegramInvite, token)
                    if used is not None and used.chat_id == chat_id:
                        log.info("invite already redeemed by this chat; %s ignored", event.event_key)
                        return  # a re-delivered /start, or the same link tapped twice
                else:
                    await repository.remember_event(session, event.platform, event.event_key, now)
                    greeting = await self._welcome(session, invite.person_kind, invite.person_id)
                    address = (event.platform, event.sender)
                    key = f"invite:{event.platform}:{event.event_key}"
                    audience = "coach" if invite.person_kind == "coach" else "client"
                    await outgoing.queue(
                        session, address, (engine.Outgoing(greeting),), None, key, now, audience=audience
                    )
        if greeting is None:
            log.info("invalid, used or expired invite presented on %s", event.platform)
            await self._refuse(event, "invite_invalid")
        else:
            self.outbox.wake()

    async def _welcome(self, session: AsyncSession, kind: str, person_id: str) -> str:
        """The greeting for a freshly bound chat; invites are only issued for people already in the database."""
        if kind == "coach":
            coach = await session.get(Coach, person_id)
            assert coach is not None
            return self._texts.render("invite_welcome_coach", coach_name=coach.name)
        client = await session.get(Client, person_id)
        assert client is not None
        coach_name = self._coach_names.get(client.coach_id, client.coach_id)
        texts = self._catalog.for_language(client.language)
        return texts.render("invite_welcome_client", client_name=client.name.split()[0], coach_name=coach_name)

    async def client_unreachable(self, message: OutboundMessage, reason: str) -> None:
        """The platform refused a client for good: stop writing to them and tell their coach, once."""
        async with self.database.transaction() as session:
            told = await self._notices.client_unreachable(session, message, reason, self._clock.now())
        if told:
            self.outbox.wake()

    async def _refuse(self, event: InboundReply, text_key: str = "unknown_sender") -> None:
        """Answer a stranger politely without storing anything about them, not even in the outbox."""
        adapter = self._adapters.get(event.platform)
        if adapter is None:
            return
        refusal = OutboundMessage(event.platform, event.sender, self._texts.render(text_key), audience="stranger")
        try:
            await adapter.send(refusal)
        except SendError as error:
            log.info("refusal to an unknown %s sender not delivered: %s", event.platform, error.reason)

    # ---- queries for coaches and the demo -------------------------------------------------------------

    async def checkin_record(self, checkin_id: int) -> CheckInRecord:
        async with self.database.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
            if checkin is None:
                raise KeyError(checkin_id)
            answers = await repository.answers_for(session, checkin_id)
            alerts = await repository.alerts_for_checkin(session, checkin_id)
            return CheckInRecord(checkin, tuple(answers), tuple(alerts))

    # ---- helpers --------------------------------------------------------------------------------------

    def _new_notices(self) -> CoachNotices:
        return CoachNotices(
            config=self.config,
            question_sets=self._question_sets,
            texts=self._texts,
            phrases=self._phrases,
            metrics=self.metrics,
            address_of=self._address,
        )

    def _new_coach_desk(self) -> CoachDesk:
        return CoachDesk(
            texts=self._texts,
            question_sets=dict(self._question_sets),
            alerts=self.config.alerts,
            start_checkins=self._start_checkins_in,
        )

    def _context(self, client: Client) -> engine.Context:
        return engine.Context(
            question_set=self._question_sets[client.question_set].in_language(client.language),
            texts=self._catalog.for_language(client.language),
            timezone=ZoneInfo(client.timezone),
            client_name=client.name.split()[0],
            # A coach removed from config keeps their id as a name until the client's check-in closes.
            coach_name=self._coach_names.get(client.coach_id, client.coach_id),
        )

    def _address(self, person: Client | Coach) -> tuple[str, str] | None:
        if self._address_platform is not None:
            return (self._address_platform, person.id)
        return address_of(person)

    @staticmethod
    async def _active_goals(session: AsyncSession, client_ids: Sequence[str]) -> dict[str, list[engine.GoalRef]]:
        rows = await session.scalars(
            select(Goal).where(Goal.client_id.in_(client_ids), Goal.active).order_by(Goal.client_id, Goal.position)
        )
        goals: dict[str, list[engine.GoalRef]] = {}
        for goal in rows:
            goals.setdefault(goal.client_id, []).append(engine.GoalRef(goal.id, goal.title))
        return goals


def _start_token(text: str) -> str | None:
    """The token of a Telegram deep link's ``/start TOKEN`` (``/start@botname TOKEN`` too); else ``None``."""
    command, _, rest = text.strip().partition(" ")
    if command.split("@", 1)[0] != "/start" or not rest.strip():
        return None
    return rest.strip()


def _as_engine_event(event: InboundReply, checkin: CheckIn | None) -> engine.Event:
    if isinstance(event, InboundChoice):
        current = checkin is not None and checkin.id == event.checkin_id
        # A press on a button of an older check-in can never match the current step, so it gets the
        # "earlier question" reply rather than answering the wrong check-in.
        return engine.ChoiceReply(event.step_key if current else f"stale:{event.step_key}", event.value)
    return engine.TextReply(event.text)
