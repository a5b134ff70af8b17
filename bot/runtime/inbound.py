"""What people send the bot: each inbound event is identified, routed and handled in one transaction.

The event is recorded as processed, the conversation state advances, answers and client changes are
written and the replies go into the outbox, all or nothing. A crash at any point therefore leaves either
the old state or the new state with its messages, and a platform's re-delivery of the same event finds it
already processed. A coach's command goes to the coach desk, a client's message to the conversation
engine, a Telegram ``/start TOKEN`` to the invites, and a stranger gets a polite refusal and leaves no trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.coaching.commands import is_coach_command
from bot.coaching.notices import Paused
from bot.contract.adapter import Adapter, SendError
from bot.contract.messages import (
    COACH_STEP,
    InboundBlocked,
    InboundChoice,
    InboundEvent,
    InboundReply,
    InboundText,
    OutboundMessage,
)
from bot.contract.statuses import CheckInStatus, PersonKind
from bot.conversation import engine
from bot.delivery import outgoing
from bot.delivery.outbox import OutboxWorker
from bot.observability.metrics import Metrics, count_on_commit
from bot.runtime.lifecycle import Lifecycle
from bot.runtime.progress import answer_progress
from bot.runtime.setup import LiveSetup, Setup
from bot.store import Database, Session, answers, checkins, clients, coaches, events, identities, invites
from bot.store.models import CheckIn, Client, Coach
from bot.timing.clock import Clock

log = logging.getLogger(__name__)


class Inbound:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        outbox: OutboxWorker,
        metrics: Metrics,
        setup: LiveSetup,
        lifecycle: Lifecycle,
        adapters: Mapping[str, Adapter],
    ) -> None:
        """``lifecycle`` starts the check-in a client asks for; ``adapters`` answer strangers directly."""
        self._database = database
        self._clock = clock
        self._outbox = outbox
        self._metrics = metrics
        self._setup = setup
        self._lifecycle = lifecycle
        self._adapters = adapters

    async def handle(self, event: InboundEvent) -> None:
        """The adapters' sink: handle one event from a platform."""
        self._metrics.inbound_events.labels(event.platform).inc()
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
        setup = self._setup.current
        async with self._database.transaction() as session:
            person = await self._identify(session, event)
            if person is not None:
                kind = PersonKind.COACH if isinstance(person, Coach) else PersonKind.CLIENT
                if not await events.remember_event(session, event.platform, event.event_key, now, (kind, person.id)):
                    log.info("duplicate %s event %s ignored", event.platform, event.event_key)
                    return
                if isinstance(person, Coach):
                    await self._serve_coach(session, setup, person, event, now)
                else:
                    if person.unreachable_at is not None:  # they wrote to us, so they can be reached again
                        await clients.clear_unreachable(session, person.id)
                    await self._converse(session, setup, person, event, now)
        if person is None:
            await self._refuse(event)
        else:
            self._outbox.wake()

    async def client_unreachable(self, message: OutboundMessage, reason: str) -> None:
        """The platform refused a client for good (they blocked the bot, or a send failed permanently): stop
        writing to them and tell their coach, once."""
        async with self._database.transaction() as session:
            told = await self._setup.current.notices.client_unreachable(session, message, reason, self._clock.now())
        if told:
            self._outbox.wake()

    async def messages_given_up(self, message: OutboundMessage, count: int) -> None:
        """Messages to a person failed past the outbox's horizon: their coach is told in chat if it was a client."""
        setup = self._setup.current
        async with self._database.transaction() as session:
            told = await setup.notices.messages_given_up(
                session, message, count, setup.config.outbox.give_up_after, self._clock.now()
            )
        if told:
            self._outbox.wake()

    async def redeem_invite(self, event: InboundText, token: str) -> None:
        """``/start TOKEN`` from a Telegram deep link: bind the chat to the invited person and greet them.

        The invite is single-use, expires, and moves a person bound to another chat only when issued with
        ``--rebind`` (``invites.redeem_telegram_invite``); then the old chat and the coach are told. An unknown,
        used, revoked or expired token gets a polite refusal and nothing is stored, as for any stranger.
        """
        now = self._clock.now()
        try:
            chat_id = int(event.sender)
        except ValueError:
            chat_id = None
        greeting: str | None = None
        if chat_id is not None:
            async with self._database.transaction() as session:
                redeemed = await invites.redeem_telegram_invite(session, token, chat_id, now)
                if redeemed is None:
                    used = await invites.invite_by_token(session, token)
                    if used is not None and used.chat_id == chat_id:
                        log.info("invite already redeemed by this chat; %s ignored", event.event_key)
                        return  # a re-delivered /start, or the same link tapped twice
                else:
                    sender = (redeemed.person_kind, redeemed.person_id)
                    await events.remember_event(session, event.platform, event.event_key, now, sender)
                    greeting = await self._welcome(session, redeemed.person_kind, redeemed.person_id)
                    address = (event.platform, event.sender)
                    key = f"invite:{event.platform}:{event.event_key}"
                    audience = "coach" if redeemed.person_kind == PersonKind.COACH else "client"
                    await outgoing.queue(
                        session, address, (engine.Outgoing(greeting),), None, key, now, person=sender, audience=audience
                    )
                    if redeemed.moved_from is not None:
                        await self._moved_away(session, redeemed, key, now)
                    if redeemed.person_kind == PersonKind.COACH:  # what waited for them follows the greeting
                        await self._setup.current.notices.release_waiting(session, now, coach_id=redeemed.person_id)
        if greeting is None:
            log.info("invalid, used or expired invite presented on %s", event.platform)
            await self._refuse(event, "invite_invalid")
        else:
            self._outbox.wake()

    async def _moved_away(self, session: Session, redeemed: invites.Redeemed, key: str, now: datetime) -> None:
        """A re-bind: tell the chat the person was bound to that it no longer is, and a client's coach."""
        assert redeemed.moved_from is not None
        setup = self._setup.current
        if redeemed.person_kind == PersonKind.COACH:
            text = setup.english.render("invite_moved_away_coach")
            audience = "coach"
        else:
            client = await clients.client_by_id(session, redeemed.person_id)
            assert client is not None
            text = setup.texts.for_language(client.language).render("invite_moved_away_client")
            audience = "client"
            await setup.notices.client_changed(session, client, "rebound", now)
        old_chat = ("telegram", str(redeemed.moved_from))
        person = (redeemed.person_kind, redeemed.person_id)
        await outgoing.queue(
            session, old_chat, (engine.Outgoing(text),), None, f"{key}:moved", now, person=person, audience=audience
        )

    async def _identify(self, session: Session, event: InboundReply) -> Client | Coach | None:
        """The client or coach behind an event. Someone who is both is the coach for whole coach commands and
        alert buttons, and the client otherwise; the coach is looked up only when the event could be theirs."""
        client = await identities.find_client_by_identity(session, event.platform, event.sender, event.sender_email)
        if client is not None and not self._is_for_coach(event):
            return client
        coach = await identities.find_coach_by_identity(session, event.platform, event.sender, event.sender_email)
        return coach if coach is not None else client

    def _is_for_coach(self, event: InboundReply) -> bool:
        if isinstance(event, InboundChoice):
            return event.step_key == COACH_STEP
        return is_coach_command(event.text, self._clock.now().date())

    async def _serve_coach(
        self, session: Session, setup: Setup, coach: Coach, event: InboundReply, now: datetime
    ) -> None:
        text = event.value if isinstance(event, InboundChoice) else event.text
        reply = await setup.desk.handle(session, coach, text, now)
        await outgoing.queue(
            session,
            (event.platform, event.sender),
            (engine.Outgoing(reply.text),),
            None,
            f"reply:{event.platform}:{event.event_key}",
            now,
            person=(PersonKind.COACH, coach.id),
            audience="coach",
            image_png=reply.image_png,
        )

    async def _converse(
        self, session: Session, setup: Setup, client: Client, event: InboundReply, now: datetime
    ) -> None:
        checkin = await checkins.open_checkin_for_update(session, client.id)
        context = setup.context(client, checkin)
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
            checkin.status = CheckInStatus.IN_PROGRESS
            checkin.last_activity_at = now
        address = (event.platform, event.sender)
        key = f"reply:{event.platform}:{event.event_key}"
        # The client's replies go first so the outbox (which sends in id order) answers them before it
        # sends any alert this reply raised for their coach.
        you = (PersonKind.CLIENT, client.id)
        await outgoing.queue(
            session, address, transition.messages, checkin.id if checkin else None, key, now, person=you
        )
        await self._apply(session, setup, client, checkin, transition.effects, now)
        await answer_progress(session, client, context, checkin, transition.effects, address, key, now)

    async def _apply(
        self,
        session: Session,
        setup: Setup,
        client: Client,
        checkin: CheckIn | None,
        effects: Sequence[engine.Effect],
        now: datetime,
    ) -> None:
        """Carry out what the engine decided, in the same transaction as the reply."""
        for effect in effects:
            match effect:
                case engine.RecordAnswer() if checkin is not None:
                    await answers.upsert_answer(
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
                    await answers.delete_answer(session, checkin.id, effect.step_key)
                case engine.FinishCheckIn() if checkin is not None:
                    checkin.status = effect.status
                    checkin.completed_at = now
                    if effect.status == CheckInStatus.COMPLETED:
                        count_on_commit(session, self._metrics.checkins_completed)
                        await setup.notices.checkin_completed(session, client, checkin, now)
                    elif not any(isinstance(e, engine.PauseClient | engine.OptOut) for e in effects):
                        # A pause or stop also closes the check-in; the coach hears about that instead.
                        await setup.notices.client_changed(session, client, "skipped_all", now)
                case engine.PauseClient():
                    await clients.set_client_pause(session, client.id, effect.until)
                    await setup.notices.client_changed(session, client, Paused(effect.until), now)
                case engine.OptOut():
                    if client.opted_out_at is None:  # a second "stop" changes nothing the coach needs to hear
                        await setup.notices.client_changed(session, client, "stopped", now)
                    await clients.set_client_opt_out(session, client.id, now)
                case engine.Resume():
                    await clients.set_client_pause(session, client.id, None)
                    await clients.set_client_opt_out(session, client.id, None)
                    await setup.notices.client_changed(session, client, "resumed", now)
                case engine.RequestCheckIn():
                    await self._lifecycle.start_checkins_in(session, [(client.id, now)], now)
                case engine.ShowProgress():
                    pass  # answered by ``answer_progress``, which knows where the reply goes
                case _:
                    raise AssertionError(f"check-in effect {effect!r} arrived without an open check-in")

    async def _welcome(self, session: Session, kind: str, person_id: str) -> str:
        """The greeting for a freshly bound chat; invites are only issued for people already in the database."""
        setup = self._setup.current
        if kind == PersonKind.COACH:
            coach = await coaches.coach_by_id(session, person_id)
            assert coach is not None
            return setup.english.render("invite_welcome_coach", coach_name=coach.name)
        client = await clients.client_by_id(session, person_id)
        assert client is not None
        texts = setup.texts.for_language(client.language)
        return texts.render(
            "invite_welcome_client", client_name=client.name.split()[0], coach_name=setup.coach_name(client.coach_id)
        )

    async def _refuse(self, event: InboundReply, text_key: str = "unknown_sender") -> None:
        """Answer a stranger politely without storing anything about them, not even in the outbox."""
        adapter = self._adapters.get(event.platform)
        if adapter is None:
            return
        text = self._setup.current.english.render(text_key)
        refusal = OutboundMessage(event.platform, event.sender, text, audience="stranger")
        try:
            await adapter.send(refusal)
        except SendError as error:
            log.info("refusal to an unknown %s sender not delivered: %s", event.platform, error.reason)


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
