"""What the bot tells coaches unasked: each completed check-in, an alert when a check-in closes, the one
re-send of an urgent alert nobody acknowledged, the digest, and that a client stopped, paused, skipped a whole
check-in or can no longer be reached.

Each works inside a transaction the runtime owns (the digest opens one per coach), so what a notice records
and the message it queues are committed together; the runtime wakes the outbox afterwards.

Everything goes through ``tell_coach``, which queues the message for the coach's address, or keeps it waiting
(``bot.store.waiting``) while the coach has no address yet (a Telegram invite not opened) or is inside their
quiet hours (anything but an urgent alert); ``release_waiting`` queues it once that has passed, in order.

When a check-in both completes and raises an alert, the coach gets two messages, in this order: the check-in
summary (scores, skipped questions, and the notes the alert does not quote), whose last line says an alert follows,
and then the alert, unchanged: each of the client's words reaches the coach once.
An urgent alert in quiet hours takes the summary with it. A coach who chose digest-only summaries gets the alert
alone, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.coaching.desk import alert_buttons, dashboard_button
from bot.coaching.reasons import unreachable_reason_key
from bot.config import Config
from bot.contract.messages import COACH_STEP, Choice, OutboundMessage
from bot.contract.statuses import PersonKind, Severity
from bot.conversation import engine
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.delivery import outgoing
from bot.delivery.attachments import Attachments
from bot.observability.metrics import Metrics, count_on_commit
from bot.signals import alerts as alert_policy
from bot.signals import digest, summary
from bot.signals.detectors import RiskPhrases
from bot.signals.drawing import Chart, TrendChart
from bot.signals.history import AlertMark
from bot.store import Database, Session, alerts, clients, coaches, identities, outbox, waiting
from bot.store.history import client_histories, client_history
from bot.store.models import Alert, CheckIn, Client, Coach
from bot.timing.cadence import after_quiet_hours

log = logging.getLogger(__name__)

#: Where a person is reached now, or ``None`` while they cannot be.
AddressOf = Callable[[Client | Coach], outgoing.Address | None]


class CoachNotices:
    def __init__(
        self,
        *,
        config: Config,
        question_sets: Mapping[str, QuestionSet],
        texts: Texts,
        phrases: RiskPhrases,
        metrics: Metrics,
        address_of: AddressOf,
        attachments: Attachments,
    ) -> None:
        """``attachments`` draws an alert's chart after the commit that queued the alert."""
        self._attachments = attachments
        self._config = config
        self._question_sets = question_sets
        self._texts = texts
        self._phrases = phrases
        self._metrics = metrics
        self._address_of = address_of

    async def checkin_completed(self, session: Session, client: Client, checkin: CheckIn, now: datetime) -> None:
        """The summary of the check-in for the coach (unless they chose digest-only), then any alert it raises."""
        summarise = self._config.checkin_summaries_for(client.id, client.coach_id) == "each"
        await self.raise_alert(session, client, checkin, now, summarise=summarise)

    async def raise_alert(
        self,
        session: Session,
        client: Client,
        checkin: CheckIn,
        now: datetime,
        *,
        summarise: bool = False,
    ) -> None:
        """Run the detectors over the client's history ending with this check-in; tell the coach if it calls for it.

        Runs when a check-in completes and when it expires, since missed check-ins are a signal too.
        With ``summarise`` the check-in's summary goes to the coach first, read from the same history, leaving out
        the answers the alert quotes and saying an alert follows if one does.
        """
        settings = self._config.alerts
        question_set = self._question_sets[checkin.question_set]
        history = await client_history(session, client.id)
        past = await alerts.alerts_for_client(session, client.id)
        outcome = alert_policy.evaluate(
            history,
            settings=settings,
            question_set=question_set,
            texts=self._texts,
            client_name=client.name,
            previous=alert_policy.AlertMemory.from_alerts(
                alert_policy.PastAlert(a.created_at, a.severity, a.signals) for a in past
            ),
            now=now,
            phrases=self._phrases,
        )
        alert = None
        if outcome.alert is not None:
            alert = await alerts.create_alert(
                session, client.id, checkin.id, outcome.alert.severity, outcome.alert.records(), now
            )
            count_on_commit(session, self._metrics.alerts.labels(outcome.alert.severity))
            if client.alerts_snoozed_until is not None and client.alerts_snoozed_until > now:
                log.info("alert %s stored, not sent: the coach snoozed alerts about %s", alert.id, client.id)
                alert = None
        if summarise:
            quoted = outcome.alert.quoted if alert is not None and outcome.alert is not None else ()
            summary_text = summary.compose(
                client.name,
                summary.CheckInView(history[-1], _skipped(checkin)),
                history[:-1],
                question_set=question_set,
                texts=self._texts,
                zone=self._coach_zone(client.coach_id),
                quoted_elsewhere=quoted,
            )
            if alert is not None:
                follows = "coach_summary_alert_follows_quoted" if quoted else "coach_summary_alert_follows"
                summary_text += "\n" + self._texts.render(follows)
            key = f"summary:{checkin.id}"
            await self.tell_coach(session, client, (engine.Outgoing(summary_text),), checkin.id, key, now)
        if alert is None or outcome.alert is None:
            return
        marks = [AlertMark(a.created_at, a.severity) for a in past] + [AlertMark(now, outcome.alert.severity)]
        chart = TrendChart(client.name, history, question_set, settings.low_score_floor, self._texts, marks)
        message = engine.Outgoing(outcome.alert.message, alert_buttons(self._texts, alert.id), COACH_STEP)
        await self.tell_coach(
            session,
            client,
            (message,),
            checkin.id,
            f"alert:{alert.id}",
            now,
            urgent=outcome.alert.severity == Severity.URGENT,
            chart=chart,
        )

    async def resend_unacknowledged(self, session: Session, now: datetime) -> int:
        """Send each urgent alert nobody acknowledged within ``alerts.resend_urgent_after`` once more.

        The alert's own outbox payload is sent again behind a short preface, so the coach reads the same
        reasons and chart; an alert that never reached the outbox (snoozed then, or purged since) is told from
        its stored reasons. One still waiting for a coach who cannot be reached yet waits: they never had it.
        Marking ``resent_at`` under the row's current value makes it once across replicas.
        """
        resent = 0
        older = now - self._config.alerts.resend_urgent_after
        preface = self._texts.render("alert_unacknowledged")
        for alert in await alerts.unacknowledged_urgent_alerts(session, older):
            if await waiting.is_waiting(session, f"alert:{alert.id}:0"):
                continue  # the coach has not had it once yet: it goes when they can be reached
            client = await clients.client_by_id(session, alert.client_id)
            if client is None or (client.alerts_snoozed_until is not None and client.alerts_snoozed_until > now):
                continue  # a snoozed client's alert is re-sent once the snooze is over, if still unacknowledged
            if not await alerts.mark_alert_resent(session, alert.id, now):
                continue
            original = await outbox.outbox_row(session, f"alert:{alert.id}:0")
            if original is not None and original.payload.get("text"):
                message = OutboundMessage.from_payload(original.platform, original.recipient, original.payload)
                again = engine.Outgoing(f"{preface}\n{message.text}", message.choices, message.step_key)
                image = message.image_png
            else:  # never queued (snoozed, or the coach had no address then), or purged: told from the alert
                again = engine.Outgoing(
                    f"{preface}\n{self._stored_alert_text(client, alert)}",
                    alert_buttons(self._texts, alert.id),
                    COACH_STEP,
                )
                image = None
            await self.tell_coach(
                session,
                client,
                (again,),
                alert.checkin_id,
                f"alert:{alert.id}:resent",
                now,
                urgent=True,
                image_png=image,
            )
            resent += 1
        return resent

    def _stored_alert_text(self, client: Client, alert: Alert) -> str:
        """The alert as its stored signals tell it: the title and one line per reason."""
        lines = [self._texts.render("coach_alert_title", client_name=client.name, severity=alert.severity)]
        lines += [
            self._texts.render("coach_alert_reason", reason=signal["reason"])
            for signal in alert.signals
            if isinstance(signal.get("reason"), str)
        ]
        return "\n".join(lines)

    async def queue_due_digests(self, database: Database, now: datetime) -> int:
        """Queue each coach's digest once its period has begun in their time zone; return how many were queued.

        The outbox key names the coach and the period, so a digest goes out once per period across sweeps,
        restarts and replicas; the cheap existence check first keeps sweeps from composing it every minute.
        """
        queued = 0
        for coach in self._config.coaches:
            if coach.digest == "off" or not digest.is_due(coach.digest, now, coach.zone):
                continue
            period = digest.period_start(coach.digest, now, coach.zone)
            key = f"digest:{coach.id}:{period.isoformat()}"
            # Read and written apart: composing a large practice's digest takes a while, and the outbox must not
            # wait for the write lock meanwhile. The key is looked up again before it is queued.
            async with database.reading() as session:
                if await self._digest_queued(session, key):
                    continue
                row = await coaches.coach_by_id(session, coach.id)
                if row is None or self._address_of(row) is None:
                    continue  # a digest is about now: a coach who joins later starts with the next one
                client_digests = await self._client_digests(session, coach.id)
            length = timedelta(weeks=1) if coach.digest == "weekly" else timedelta(days=1)
            until = datetime.combine(period, digest.DIGEST_TIME, coach.zone)
            text = digest.compose(
                coach.name,
                coach.digest,
                until - length,
                [client for _, client in client_digests],
                settings=self._config.alerts,
                texts=self._texts,
                phrases=self._phrases,
                period=period,
                until=until,
            )
            buttons = self._digest_buttons()
            # Only a digest with a button is a step the coach can answer.
            message = engine.Outgoing(text, buttons, COACH_STEP if buttons else None)
            async with database.transaction() as session:
                if await self._digest_queued(session, key):
                    continue
                quoted = [client_id for client_id, _ in client_digests]
                await self.tell_coach(session, coach.id, (message,), None, key, now, quoting=quoted)
            queued += 1
        return queued

    def _digest_buttons(self) -> tuple[Choice, ...]:
        """The digest's dashboard button, when there is a dashboard to open."""
        return (dashboard_button(self._texts),) if self._config.dashboard is not None else ()

    @staticmethod
    async def _digest_queued(session: Session, key: str) -> bool:
        return await outbox.outbox_row(session, f"{key}:0") is not None or await waiting.is_waiting(session, f"{key}:0")

    async def _client_digests(self, session: Session, coach_id: str) -> list[tuple[str, digest.ClientDigest]]:
        """The coach's active clients by id with what their digest lines need, their histories read together."""
        own = await clients.active_clients(session, coach_id=coach_id)
        open_alerts = await alerts.open_alert_counts(session, coach_id)
        histories = await client_histories(session, [client.id for client in own])
        return [
            (
                client.id,
                digest.ClientDigest(
                    client.name,
                    self._question_sets[client.question_set],
                    histories.get(client.id, []),
                    open_alerts.get(client.id, 0),
                ),
            )
            for client in own
        ]

    async def client_unreachable(self, session: Session, message: OutboundMessage, reason: str, now: datetime) -> bool:
        """The platform refused a client for good: mark them and tell their coach, once; False if nothing changed."""
        client = await clients.mark_unreachable(session, message.platform, message.recipient, reason, now)
        if client is None:
            return False  # a coach or a stranger, or the client was already marked
        log.info("client %s is unreachable on %s: %s", client.id, message.platform, reason)
        text = self._texts.render(
            "coach_client_unreachable",
            client_name=client.name,
            platform=self._texts.render(f"platform_name_{message.platform}")
            if message.platform in NAMED_PLATFORMS
            else message.platform,
            reason=self._texts.render(unreachable_reason_key(reason), client_name=client.name.split()[0]),
        )
        await self.tell_coach(
            session, client, (engine.Outgoing(text),), None, f"unreachable:{client.id}:{now.isoformat()}", now
        )
        return True

    async def messages_given_up(
        self, session: Session, message: OutboundMessage, count: int, horizon: timedelta, now: datetime
    ) -> bool:
        """Messages to a client failed for longer than the outbox retries: tell their coach in chat, once for the
        row given up (every replica settles it once). False if the recipient is no client (a coach, a stranger)."""
        client = await identities.find_client_by_identity(session, message.platform, message.recipient)
        if client is None:
            return False
        text = self._texts.render(
            "coach_messages_given_up",
            client_name=client.name,
            count=count,
            platform=self._texts.render(f"platform_name_{message.platform}")
            if message.platform in NAMED_PLATFORMS
            else message.platform,
            horizon=_duration(horizon),
        )
        key = f"given-up:{client.id}:{message.outbox_id}"
        await self.tell_coach(session, client, (engine.Outgoing(text),), None, key, now)
        return True

    async def client_changed(self, session: Session, client: Client, change: ClientChange, now: datetime) -> None:
        """Tell the coach the client stopped, resumed, paused or skipped a whole check-in themselves, or that an
        admin moved their Telegram to another chat (``rebound``)."""
        if isinstance(change, Paused):
            until = change.until.astimezone(self._coach_zone(client.coach_id)).date()
            date = f"{until.day} {until:%B %Y}"
            text = self._texts.render("coach_notice_paused", client_name=client.name, date=date)
        else:
            text = self._texts.render(f"coach_notice_{change}", client_name=client.name)
        kind = "paused" if isinstance(change, Paused) else change
        key = f"{kind}:{client.id}:{now.isoformat()}"
        await self.tell_coach(session, client, (engine.Outgoing(text),), None, key, now)

    async def tell_coach(
        self,
        session: Session,
        about: Client | str,
        messages: Sequence[engine.Outgoing],
        checkin_id: int | None,
        key: str,
        now: datetime,
        *,
        urgent: bool = False,
        image_png: bytes | None = None,
        quoting: Sequence[str] = (),
        chart: Chart | None = None,
    ) -> None:
        """Queue messages for a coach (``about`` is the client they concern, or the coach's id), or keep them
        waiting while the coach has no address or, unless ``urgent``, is inside quiet hours or has messages
        waiting already (so they keep their order). ``quoting`` names further clients the messages quote (a
        digest), so that erasing any of them erases the message.

        ``chart`` is drawn as the first message's image after the commit (``bot.delivery.attachments``); the
        message is held for it meanwhile."""
        coach_id, client_id = (about.coach_id, about.id) if isinstance(about, Client) else (about, None)
        about_clients = [*quoting, *([client_id] if client_id is not None else [])]
        coach = await coaches.coach_by_id(session, coach_id)
        if coach is None:
            log.warning("coach %s is not in the database; message %s dropped", coach_id, key)
            return
        address = self._address_of(coach)
        hold_until = None if urgent else self._quiet_until(coach_id, now)
        if address is not None and urgent:
            await self._release(session, coach_id, address, None, now)  # what waited goes first, in order
        if chart is not None:
            self._attachments.after_commit(session, f"{key}:0", chart)
        if address is not None and (
            urgent or (hold_until is None and not await waiting.has_waiting(session, coach_id))
        ):
            not_before = self._attachments.hold_until(now) if chart is not None else None
            await outgoing.queue(
                session,
                address,
                messages,
                checkin_id,
                key,
                now,
                person=(PersonKind.COACH, coach_id),
                audience="coach",
                image_png=image_png,
                about=about_clients,
                not_before=not_before,
            )
            return
        if address is None:
            log.info("message %s waits for coach %s to become reachable", key, coach_id)
        for index, message in enumerate(messages):
            payload = OutboundMessage(
                "", "", message.text, message.choices, checkin_id, message.step_key, "coach", image_png
            ).to_payload()
            if about_clients:
                payload[outgoing.ABOUT] = about_clients
            await waiting.hold(session, coach_id, client_id, f"{key}:{index}", payload, hold_until, now)

    async def release_waiting(self, session: Session, now: datetime, *, coach_id: str | None = None) -> int:
        """Queue what waits for coaches who can be reached and are past their quiet hours; return how many."""
        released = 0
        for waiting_for in [coach_id] if coach_id is not None else await waiting.coaches_waiting(session, now):
            coach = await coaches.coach_by_id(session, waiting_for)
            address = self._address_of(coach) if coach is not None else None
            if address is not None:
                released += await self._release(session, waiting_for, address, now, now)
        return released

    async def _release(
        self, session: Session, coach_id: str, address: outgoing.Address, until: datetime | None, now: datetime
    ) -> int:
        platform, recipient = address
        rows = [
            outbox.OutboxRow(platform, recipient, held.payload, held.idempotency_key, (PersonKind.COACH, coach_id))
            for held in await waiting.take_due(session, coach_id, until)
        ]
        return await outbox.enqueue(session, rows, now)

    def _quiet_until(self, coach_id: str, now: datetime) -> datetime | None:
        """When the coach's quiet hours end, if ``now`` is inside them."""
        coach = self._config.coach(coach_id)
        if coach is None or coach.quiet_hours is None:
            return None
        until = after_quiet_hours(now, coach.zone, coach.quiet_hours)
        return until if until > now else None

    def _coach_zone(self, coach_id: str) -> ZoneInfo:
        coach = self._config.coach(coach_id)
        return coach.zone if coach is not None else ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Paused:
    until: datetime


#: What a client did that their coach hears about at once.
ClientChange = Literal["stopped", "resumed", "skipped_all", "rebound"] | Paused
#: Platforms with a name in the texts (``platform_name_*``); another is named by its id.
NAMED_PLATFORMS = frozenset({"slack", "telegram", "console"})


def _duration(span: timedelta) -> str:
    """A retry horizon as a coach reads it in any language: "24 h", or "45 min" below an hour."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def _skipped(checkin: CheckIn) -> tuple[str, ...]:
    """The questions the client was asked and left unanswered in this check-in."""
    if checkin.state is None:
        return ()
    return engine.ConversationState.from_json(checkin.state).skipped()
