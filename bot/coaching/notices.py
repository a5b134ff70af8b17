"""What the bot tells coaches unasked: an alert when a check-in closes, the one re-send of an urgent alert
nobody acknowledged, the digest, and that a client can no longer be reached.

Each works inside a transaction the runtime owns (the digest opens one per coach), so what a notice records
and the message it queues are committed together; the runtime wakes the outbox afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot.coaching.desk import alert_buttons
from bot.config import Config
from bot.contract.messages import COACH_STEP, OutboundMessage
from bot.conversation import engine
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.delivery import outgoing
from bot.observability.metrics import Metrics, count_on_commit
from bot.signals import alerts as alert_policy
from bot.signals import digest
from bot.signals.detectors import RiskPhrases
from bot.store import Database, Session, alerts, clients, coaches, outbox
from bot.store.history import client_history
from bot.store.models import CheckIn, Client, Coach

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
    ) -> None:
        self._config = config
        self._question_sets = question_sets
        self._texts = texts
        self._phrases = phrases
        self._metrics = metrics
        self._address_of = address_of

    async def raise_alert(self, session: Session, client: Client, checkin: CheckIn, now: datetime) -> None:
        """Run the detectors over the client's history ending with this check-in; tell the coach if it calls for it.

        Runs when a check-in completes and when it expires, since missed check-ins are a signal too.
        """
        from bot.signals.charts import (
            render_trend,  # matplotlib takes most of a second to import: only alerts pay for it
        )

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
        if outcome.alert is None:
            return
        alert = await alerts.create_alert(
            session, client.id, checkin.id, outcome.alert.severity, outcome.alert.records(), now
        )
        count_on_commit(session, self._metrics.alerts.labels(outcome.alert.severity))
        if client.alerts_snoozed_until is not None and client.alerts_snoozed_until > now:
            log.info("alert %s stored, not sent: the coach snoozed alerts about %s", alert.id, client.id)
            return
        coach = await coaches.coach_by_id(session, client.coach_id)
        coach_address = self._address_of(coach) if coach is not None else None
        if coach_address is None:
            log.warning("alert %s stored; coach %s has no reachable address yet", alert.id, client.coach_id)
            return
        chart = render_trend(
            client.name,
            history,
            question_set=question_set,
            floor=settings.low_score_floor,
            alerts_at=[a.created_at for a in past] + [now],
        )
        message = engine.Outgoing(outcome.alert.message, alert_buttons(self._texts, alert.id), COACH_STEP)
        await outgoing.queue(
            session, coach_address, (message,), checkin.id, f"alert:{alert.id}", now, audience="coach", image_png=chart
        )

    async def resend_unacknowledged(self, session: Session, now: datetime) -> int:
        """Send each urgent alert nobody acknowledged within ``alerts.resend_urgent_after`` once more.

        The alert's own outbox payload is sent again behind a short preface, so the coach reads the same
        reasons and chart. Marking ``resent_at`` under the row's current value makes it once across replicas.
        """
        resent = 0
        older = now - self._config.alerts.resend_urgent_after
        for alert in await alerts.unacknowledged_urgent_alerts(session, older):
            original = await outbox.outbox_row(session, f"alert:{alert.id}:0")
            if original is None or not await alerts.mark_alert_resent(session, alert.id, now):
                continue
            message = OutboundMessage.from_payload(original.platform, original.recipient, original.payload)
            preface = self._texts.render("alert_unacknowledged")
            again = replace(message, text=f"{preface}\n{message.text}")
            row = outbox.OutboxRow(
                original.platform, original.recipient, again.to_payload(), f"alert:{alert.id}:resent"
            )
            await outbox.enqueue(session, [row], now)
            resent += 1
        return resent

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
            async with database.transaction() as session:
                if await outbox.outbox_row(session, f"{key}:0") is not None:
                    continue
                row = await coaches.coach_by_id(session, coach.id)
                address = self._address_of(row) if row is not None else None
                if address is None:
                    continue
                length = timedelta(weeks=1) if coach.digest == "weekly" else timedelta(days=1)
                since = datetime.combine(period, digest.DIGEST_TIME, coach.zone) - length
                text = digest.compose(
                    coach.name,
                    coach.digest,
                    since,
                    await self._client_digests(session, coach.id),
                    settings=self._config.alerts,
                    texts=self._texts,
                    phrases=self._phrases,
                    period=period,
                )
                await outgoing.queue(session, address, (engine.Outgoing(text),), None, key, now, audience="coach")
                queued += 1
        return queued

    async def _client_digests(self, session: Session, coach_id: str) -> list[digest.ClientDigest]:
        own = await clients.active_clients(session, coach_id=coach_id)
        open_alerts = await alerts.open_alert_counts(session, coach_id)
        return [
            digest.ClientDigest(
                client.name,
                self._question_sets[client.question_set],
                await client_history(session, client.id),
                open_alerts.get(client.id, 0),
            )
            for client in own
        ]

    async def client_unreachable(self, session: Session, message: OutboundMessage, reason: str, now: datetime) -> bool:
        """The platform refused a client for good: mark them and tell their coach, once; False if nothing changed."""
        client = await clients.mark_unreachable(session, message.platform, message.recipient, reason, now)
        if client is None:
            return False  # a coach or a stranger, or the client was already marked
        coach = await coaches.coach_by_id(session, client.coach_id)
        address = self._address_of(coach) if coach is not None else None
        if address is None:
            log.warning("client %s is unreachable; their coach cannot be told yet", client.id)
            return True
        text = self._texts.render(
            "coach_client_unreachable", client_name=client.name, platform=message.platform, reason=reason
        )
        key = f"unreachable:{client.id}:{now.isoformat()}"
        await outgoing.queue(session, address, (engine.Outgoing(text),), None, key, now, audience="coach")
        return True
