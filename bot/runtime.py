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
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.base import Adapter, SendError
from bot import engine
from bot.alerts import draft_alert
from bot.clock import Clock
from bot.config import Config
from bot.messages import InboundChoice, InboundEvent, OutboundMessage
from bot.outbox import OutboxWorker
from bot.people import address_of, people_from_config
from bot.questions import QuestionSet
from bot.signals import AnswerView, low_scores
from bot.store import Database, repository
from bot.store.models import Alert, Answer, CheckIn, Client, Coach, Goal
from bot.texts import Texts

log = logging.getLogger(__name__)

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
        texts: Texts,
        database: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        worker_id: str,
        address_platform: str | None = None,
        outbox_loop: bool = True,
    ) -> None:
        """``address_platform`` routes every person to one adapter by their id; the terminal demo uses it."""
        self.config = config
        self._question_sets = question_sets
        self._texts = texts
        self.database = database
        self._adapters = adapters
        self._clock = clock
        self._address_platform = address_platform
        self._outbox_loop = outbox_loop
        self.outbox = OutboxWorker(database, adapters, clock, worker_id=worker_id)

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.database.start()
        coaches, clients = people_from_config(self.config)
        async with self.database.transaction() as session:
            await repository.sync_people(session, coaches, clients, self._clock.now())
        if self._outbox_loop:
            await self.outbox.start()
        for adapter in self._unique_adapters():
            await adapter.start(self.handle_inbound)

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
        """Claim ``slot`` for the client and queue the opening messages; ``None`` if there is nothing to send.

        The claim is an insert on the unique (client, slot): whoever loses it (another replica, a repeated
        run of the same slot) sends nothing.
        """
        now = self._clock.now()
        async with self.database.transaction() as session:
            client = await session.get(Client, client_id)
            if client is None or not client.active:
                log.warning("check-in for unknown or removed client %s not started", client_id)
                return None
            if client.opted_out_at is not None or (client.paused_until is not None and client.paused_until > now):
                log.info("check-in for %s not started: paused or opted out", client_id)
                return None
            address = self._address(client)
            if address is None:
                log.warning("check-in for %s not started: no reachable address yet", client_id)
                return None
            previous = await repository.open_checkin_for_update(session, client_id)
            checkin = await repository.claim_checkin(session, client_id, slot, client.question_set, now)
            if checkin is None:
                return None
            if previous is not None:
                previous.status = "expired"  # a new slot supersedes an unanswered one
            goals = await self._active_goals(session, client_id)
            first = client.privacy_notice_sent_at is None
            transition = engine.begin(self._context(client), goals, first_checkin=first)
            if first:
                await repository.mark_privacy_notice_sent(session, client_id, now)
            assert transition.state is not None
            checkin.state = transition.state.to_json()
            checkin.status = "sent"
            checkin.sent_at = now
            checkin.last_activity_at = now
            await self._enqueue(session, address, transition.messages, checkin.id, f"checkin:{checkin.id}:open", now)
            checkin_id = checkin.id
        self.outbox.wake()
        return checkin_id

    # ---- inbound --------------------------------------------------------------------------------------

    async def handle_inbound(self, event: InboundEvent) -> None:
        now = self._clock.now()
        async with self.database.transaction() as session:
            client = await repository.find_client_by_identity(session, event.platform, event.sender)
            if client is None:
                refused = True
            else:
                refused = False
                if not await repository.remember_event(session, event.platform, event.event_key, now):
                    log.info("duplicate %s event %s ignored", event.platform, event.event_key)
                    return
                await self._converse(session, client, event, now)
        if refused:
            await self._refuse(event)
        else:
            self.outbox.wake()

    async def _converse(self, session: AsyncSession, client: Client, event: InboundEvent, now: datetime) -> None:
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
        await self._enqueue(session, address, transition.messages, checkin.id if checkin else None, key, now)
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
                        await self._raise_alert(session, client, checkin, now)
                case engine.PauseClient():
                    await repository.set_client_pause(session, client.id, effect.until)
                case engine.OptOut():
                    await repository.set_client_opt_out(session, client.id, now)
                case engine.Resume():
                    await repository.set_client_pause(session, client.id, None)
                    await repository.set_client_opt_out(session, client.id, None)
                case _:
                    raise AssertionError(f"check-in effect {effect!r} arrived without an open check-in")

    async def _raise_alert(self, session: AsyncSession, client: Client, checkin: CheckIn, now: datetime) -> None:
        answers = [
            AnswerView(a.question_id, a.value, a.text) for a in await repository.answers_for(session, checkin.id)
        ]
        question_set = self._question_sets[checkin.question_set]
        signals = low_scores(answers, question_set, self._texts, floor=self.config.alerts.low_score_floor)
        draft = draft_alert(client.name, signals, answers, self._texts)
        if draft is None:
            return
        alert = await repository.create_alert(
            session, client.id, checkin.id, draft.severity, [s.to_json() for s in draft.signals], now
        )
        coach = await session.get(Coach, client.coach_id)
        coach_address = self._address(coach) if coach is not None else None
        if coach_address is None:
            log.warning(
                "alert %s for %s stored; coach %s has no reachable address yet", alert.id, client.id, client.coach_id
            )
            return
        message = engine.Outgoing(draft.message)
        await self._enqueue(session, coach_address, (message,), checkin.id, f"alert:{alert.id}", now, audience="coach")

    async def _refuse(self, event: InboundEvent) -> None:
        """Answer a stranger politely without storing anything about them, not even in the outbox."""
        adapter = self._adapters.get(event.platform)
        if adapter is None:
            return
        refusal = OutboundMessage(
            event.platform, event.sender, self._texts.render("unknown_sender"), audience="stranger"
        )
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
            alerts = (
                await session.scalars(select(Alert).where(Alert.checkin_id == checkin_id).order_by(Alert.id))
            ).all()
            return CheckInRecord(checkin, tuple(answers), tuple(alerts))

    # ---- helpers --------------------------------------------------------------------------------------

    def _context(self, client: Client) -> engine.Context:
        coach = next(c for c in self.config.coaches if c.id == client.coach_id)
        return engine.Context(
            question_set=self._question_sets[client.question_set],
            texts=self._texts,
            timezone=ZoneInfo(client.timezone),
            client_name=client.name.split()[0],
            coach_name=coach.name,
        )

    def _address(self, person: Client | Coach) -> tuple[str, str] | None:
        if self._address_platform is not None:
            return (self._address_platform, person.id)
        return address_of(person)

    @staticmethod
    async def _active_goals(session: AsyncSession, client_id: str) -> list[engine.GoalRef]:
        rows = await session.scalars(
            select(Goal).where(Goal.client_id == client_id, Goal.active).order_by(Goal.position)
        )
        return [engine.GoalRef(g.id, g.title) for g in rows]

    @staticmethod
    async def _enqueue(
        session: AsyncSession,
        address: tuple[str, str],
        messages: Sequence[engine.Outgoing],
        checkin_id: int | None,
        key_prefix: str,
        now: datetime,
        *,
        audience: str = "client",
    ) -> None:
        platform, recipient = address
        for index, outgoing in enumerate(messages):
            message = OutboundMessage(
                platform, recipient, outgoing.text, outgoing.choices, checkin_id, outgoing.step_key, audience
            )
            await repository.enqueue(session, platform, recipient, message.to_payload(), f"{key_prefix}:{index}", now)


def _as_engine_event(event: InboundEvent, checkin: CheckIn | None) -> engine.Event:
    if isinstance(event, InboundChoice):
        current = checkin is not None and checkin.id == event.checkin_id
        # A press on a button of an older check-in can never match the current step, so it gets the
        # "earlier question" reply rather than answering the wrong check-in.
        return engine.ChoiceReply(event.step_key if current else f"stale:{event.step_key}", event.value)
    return engine.TextReply(event.text)
