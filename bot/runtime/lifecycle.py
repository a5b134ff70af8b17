"""A check-in's life: started for a slot, reminded, expired, and read back as a record.

Each step is one database transaction: the check-in's state changes and the messages it sends go into the
outbox together, all or nothing, and the outbox is woken once the transaction has committed. Several
replicas run the same steps: claims, reminder counts and row locks make the first one act and the others
do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.contract.statuses import OPEN_CHECKIN_STATUSES, CheckInStatus, PersonKind
from bot.conversation import engine
from bot.delivery import outgoing
from bot.delivery.outbox import OutboxWorker
from bot.observability.metrics import Metrics, count_on_commit
from bot.runtime.setup import LiveSetup, Setup
from bot.store import Database, Session, alerts, answers, checkins, clients, outbox
from bot.store import goals as stored_goals
from bot.store.models import Alert, Answer, CheckIn, Client
from bot.timing.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    """A check-in with its answers and alerts, as the coach sees it."""

    checkin: CheckIn
    answers: tuple[Answer, ...]
    alerts: tuple[Alert, ...]


class Lifecycle:
    def __init__(
        self, *, database: Database, clock: Clock, outbox: OutboxWorker, metrics: Metrics, setup: LiveSetup
    ) -> None:
        self._database = database
        self._clock = clock
        self._outbox = outbox
        self._metrics = metrics
        self._setup = setup

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
        async with self._database.transaction() as session:
            won = await self.start_checkins_in(session, due, now)
        if won:
            self._outbox.wake()
        return won

    async def claim_due(
        self, due: Sequence[tuple[str, datetime]], *, skip_busy: bool
    ) -> tuple[dict[str, int], list[tuple[str, datetime]]]:
        """``start_checkins`` for a dispatch pass that other replicas may be running at the same moment.

        Replicas dispatching together would otherwise compute the same batches and each wait on the other's
        inserts, so a second replica made claiming no faster. Here slots already claimed are dropped first, with
        one read that locks nothing, so a batch another replica finished costs that read alone; the rest of the
        batch's clients are then row-locked before any conversation is planned. With ``skip_busy`` the clients
        another transaction holds are passed over and returned, so each replica takes the batches the others are
        not on; the caller retries those without ``skip_busy``, and as most were claimed meanwhile the first read
        drops them, while the ones whose replica rolled back are locked (waiting if need be) and started here, so
        a replica that rolls back loses nothing.
        """
        now = self._clock.now()
        async with self._database.transaction() as session:
            due = await _unclaimed(session, due)
            locked = await clients.clients_by_id(session, [c for c, _ in due], lock=True, skip_locked=skip_busy)
            busy = [(c, slot) for c, slot in due if c not in locked]
            due = [(c, slot) for c, slot in due if c in locked]
            if not skip_busy:
                # The lock may have waited for a replica that claimed some of these slots and committed since.
                due = await _unclaimed(session, due)
            won = await self._open_checkins(session, due, locked, now)
        if won:
            self._outbox.wake()
        return won, busy

    async def start_checkins_in(
        self, session: Session, due: Sequence[tuple[str, datetime]], now: datetime
    ) -> dict[str, int]:
        """``start_checkins`` inside the caller's transaction (a coach's or client's "checkin now" uses it)."""
        by_id = await clients.clients_by_id(session, [client_id for client_id, _ in due])
        return await self._open_checkins(session, due, by_id, now)

    async def _open_checkins(
        self, session: Session, due: Sequence[tuple[str, datetime]], by_id: Mapping[str, Client], now: datetime
    ) -> dict[str, int]:
        """Plan each (client, slot) whose client can be written to, claim it, and queue what the claims won send.

        A claim lost on the unique (client, slot) sends nothing: the outbox rows are built for the claims won.
        """
        setup = self._setup.current
        startable = _startable(setup, due, by_id, now)
        if not startable:
            return {}
        goals = await _goal_refs(session, [client.id for client, _, _ in startable])
        openings = {
            client.id: _Opening(client, slot, address, _begin(setup, client, goals.get(client.id, [])))
            for client, slot, address in startable
        }
        won = await checkins.claim_checkins(session, [o.claim(setup) for o in openings.values()], now)
        await checkins.expire_superseded(session, won)
        rows = [row for client_id, checkin_id in won.items() for row in openings[client_id].outbox_rows(checkin_id)]
        await outbox.enqueue(session, rows, now)
        count_on_commit(session, self._metrics.checkins_sent, len(won))
        return won

    async def remind(self, checkin_id: int, number: int) -> bool:
        """Send reminder ``number`` (1-based) for an open check-in; False if it is closed or already reminded.

        Several replicas sweep the same check-ins: the row lock and the ``reminders_sent`` check make the
        first one send and the others do nothing.
        """
        now = self._clock.now()
        async with self._database.transaction() as session:
            found = await _locked_open_checkin(session, checkin_id)
            if found is None or found[0].reminders_sent >= number:
                return False
            checkin, client, state = found
            checkin.reminders_sent = number
            transition = engine.remind(self._setup.current.context(client, checkin), state)
            await self._enqueue_to(
                session, client, transition, checkin.id, f"checkin:{checkin.id}:reminder:{number}", now
            )
        self._outbox.wake()
        return True

    async def expire(self, checkin_id: int) -> bool:
        """Close an unanswered check-in and tell the client; False if it was already closed."""
        now = self._clock.now()
        setup = self._setup.current
        async with self._database.transaction() as session:
            found = await _locked_open_checkin(session, checkin_id)
            if found is None:
                return False
            checkin, client, state = found
            transition = engine.expire(setup.context(client, checkin), state)
            assert transition.state is not None
            checkin.status = CheckInStatus.EXPIRED
            checkin.last_activity_at = now
            checkin.state = transition.state.to_json()
            await self._enqueue_to(session, client, transition, checkin.id, f"checkin:{checkin.id}:expired", now)
            await setup.notices.raise_alert(session, client, checkin, now)
        self._metrics.checkins_expired.inc()
        self._outbox.wake()
        return True

    async def checkin_record(self, checkin_id: int) -> CheckInRecord:
        """The check-in as the coach sees it (the demo shows it); ``KeyError`` for an unknown id."""
        async with self._database.session() as session:
            checkin = await checkins.checkin_by_id(session, checkin_id)
            if checkin is None:
                raise KeyError(checkin_id)
            given = await answers.answers_for(session, checkin_id)
            raised = await alerts.alerts_for_checkin(session, checkin_id)
            return CheckInRecord(checkin, tuple(given), tuple(raised))

    async def _enqueue_to(
        self,
        session: Session,
        client: Client,
        transition: engine.Transition,
        checkin_id: int,
        key_prefix: str,
        now: datetime,
    ) -> None:
        address = self._setup.current.addresses(client)
        if address is None:
            log.warning("client %s has no reachable address; %s not sent", client.id, key_prefix)
            return
        person = (PersonKind.CLIENT, client.id)
        await outgoing.queue(session, address, transition.messages, checkin_id, key_prefix, now, person=person)


@dataclass(frozen=True, slots=True)
class _Opening:
    """A check-in about to be claimed: whom it is for, where they are written to, and how it opens."""

    client: Client
    slot: datetime
    address: tuple[str, str]
    transition: engine.Transition

    def claim(self, setup: Setup) -> checkins.Claim:
        assert self.transition.state is not None
        asked = setup.asked(self.client.question_set, self.client.language)
        return checkins.Claim(
            self.client.id, self.slot, self.client.question_set, self.transition.state.to_json(), asked.stored
        )

    def outbox_rows(self, checkin_id: int) -> list[outbox.OutboxRow]:
        """The opening messages, once the claim is won and the check-in has its id."""
        client_id = self.client.id
        return outgoing.outbox_rows(
            self.address,
            self.transition.messages,
            checkin_id,
            f"checkin:{checkin_id}:open",
            person=(PersonKind.CLIENT, client_id),
            # The outbox records the notice as given once it is delivered.
            notice_for=client_id if self.client.privacy_notice_sent_at is None else None,
        )


def _startable(
    setup: Setup, due: Sequence[tuple[str, datetime]], by_id: Mapping[str, Client], now: datetime
) -> list[tuple[Client, datetime, tuple[str, str]]]:
    """The due (client, slot) pairs whose client exists and can be written to now, with the client's address."""
    startable = []
    for client_id, slot in due:
        client = by_id.get(client_id)
        address = setup.addresses(client) if client is not None else None
        if client is None or address is None or not _reachable(client, now):
            log.info("check-in for %s not started: removed, paused, opted out or unreachable", client_id)
            continue
        startable.append((client, slot, address))
    return startable


async def _goal_refs(session: Session, client_ids: Sequence[str]) -> dict[str, list[engine.GoalRef]]:
    active = await stored_goals.active_goals(session, client_ids)
    return {client_id: [engine.GoalRef(goal.id, goal.title) for goal in goals] for client_id, goals in active.items()}


def _begin(setup: Setup, client: Client, goals: Sequence[engine.GoalRef]) -> engine.Transition:
    first = client.privacy_notice_sent_at is None
    return engine.begin(setup.context(client), goals, first_checkin=first)


async def _unclaimed(session: Session, due: Sequence[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    """The (client, slot) pairs that have no check-in yet, as far as committed transactions tell."""
    taken = await checkins.claimed(session, due)
    return [pair for pair in due if pair not in taken]


def _reachable(client: Client, now: datetime) -> bool:
    paused = client.paused_until is not None and client.paused_until > now
    return client.active and not paused and client.opted_out_at is None and client.unreachable_at is None


async def _locked_open_checkin(
    session: Session, checkin_id: int
) -> tuple[CheckIn, Client, engine.ConversationState] | None:
    """The check-in, row-locked, with its client and state, if it is still waiting for answers."""
    checkin = await checkins.checkin_by_id(session, checkin_id, for_update=True)
    if checkin is None or checkin.status not in OPEN_CHECKIN_STATUSES or checkin.state is None:
        return None
    client = await clients.client_by_id(session, checkin.client_id)
    assert client is not None  # a foreign key
    return checkin, client, engine.ConversationState.from_json(checkin.state)
