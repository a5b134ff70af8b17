"""The coach's side of the chat: commands and alert buttons, each acting only on the coach's own clients.

Every command resolves its client among the coach's active clients and nowhere else, so a coach who names
another coach's client gets the same "no client of yours is called that" as for a name that does not exist:
the answer does not even confirm that the other client exists. Alert buttons carry ``#<alert id>`` for the
client, which resolves through the same check.

Runs inside the runtime's transaction for the inbound event, so what a command changes and the reply it
sends are committed together, and a re-delivered button press is ignored before it gets here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.coaching import commands
from bot.coaching.brief import SessionBriefs
from bot.coaching.dashboard_link import LINK_VALID, issue_link
from bot.coaching.status import ClientStatus, client_state, client_statuses
from bot.config.alerts import Alerts
from bot.contract.messages import Choice
from bot.conversation import engine
from bot.conversation.questions import QuestionSet
from bot.conversation.texts import Texts
from bot.signals import drawing, summary
from bot.signals.drawing import TrendChart
from bot.store import Session, alerts, checkins, clients, coaching_sessions
from bot.store.clients import ClientGlance
from bot.store.history import alert_marks, client_history
from bot.store.models import Client, Coach

#: Starts check-ins inside the caller's transaction; returns client id -> check-in id for those started.
StartCheckIns = Callable[[Session, Sequence[tuple[str, datetime]], datetime], Awaitable[dict[str, int]]]


@dataclass(frozen=True, slots=True)
class CoachReply:
    text: str
    image_png: bytes | None = None


def alert_buttons(texts: Texts, alert_id: int) -> tuple[Choice, ...]:
    """Acknowledge, send a check-in now, snooze: short command texts, within Telegram's 64-byte button data."""
    return (
        Choice(f"ack {alert_id}", texts.render("coach_alert_button_ack")),
        Choice(f"checkin #{alert_id}", texts.render("coach_alert_button_checkin")),
        Choice(f"snooze #{alert_id} {commands.DEFAULT_SNOOZE.days}d", texts.render("coach_alert_button_snooze")),
    )


def dashboard_button(texts: Texts) -> Choice:
    """The digest's button: it sends ``dashboard``, so pressing it is typing the command (a fresh one-time
    link each press; the digest itself carries none, since a link in a week-old message would have expired)."""
    return Choice("dashboard", texts.render("coach_digest_button_dashboard"))


class CoachDesk:
    def __init__(
        self,
        *,
        texts: Texts,
        question_sets: dict[str, QuestionSet],
        alerts: Alerts,
        start_checkins: StartCheckIns,
        briefs: SessionBriefs,
        dashboard_url: str | None = None,
    ) -> None:
        """``dashboard_url`` is the dashboard's public address, or None when it is not configured."""
        self._texts = texts
        self._question_sets = question_sets
        self._alerts = alerts
        self._start_checkins = start_checkins
        self._briefs = briefs
        self._dashboard_url = dashboard_url

    async def handle(self, session: Session, coach: Coach, text: str, now: datetime) -> CoachReply:
        command = commands.parse_coach_command(text, now.astimezone(ZoneInfo(coach.timezone)).date())
        return await self.execute(session, coach, command, now)

    async def execute(
        self, session: Session, coach: Coach, command: commands.CoachCommand, now: datetime
    ) -> CoachReply:
        """Run one command for ``coach``: what they typed, pressed in an alert, or on the dashboard."""
        zone = ZoneInfo(coach.timezone)
        if isinstance(command, commands.CoachHelp):
            return self._say("coach_help")
        if isinstance(command, commands.Unknown):
            return self._say(command.usage)
        if isinstance(command, commands.ListClients):
            return await self._list_clients(session, coach, now, zone)
        if isinstance(command, commands.OpenDashboard):
            if self._dashboard_url is None:
                return self._say("coach_dashboard_off")
            url = await issue_link(session, coach.id, self._dashboard_url, now)
            return self._say("coach_dashboard_link", url=url, minutes=int(LINK_VALID.total_seconds() // 60))
        if isinstance(command, commands.Acknowledge) and command.client is None:
            count = await alerts.acknowledge_alerts(session, coach.id, now, alert_id=command.alert_id)
            return self._acknowledged(count)
        found = await self._resolve(session, coach, command.client or "")
        if isinstance(found, CoachReply):
            return found
        client = found
        match command:
            case commands.Acknowledge():
                return self._acknowledged(await alerts.acknowledge_alerts(session, coach.id, now, client_id=client.id))
            case commands.ShowTrend():
                return await self._trend(session, client, now, zone)
            case commands.ShowAnswers(count=count):
                return await self._answers(session, client, count, zone)
            case commands.ShowBrief():
                brief = await self._briefs.compose(session, client, zone, now)
                return CoachReply(brief.text, brief.chart)
            case commands.SendCheckIn():
                return await self._send_checkin(session, client, now, zone)
            case commands.PauseClient(duration=duration):
                until = now + duration
                await clients.set_client_pause(session, client.id, until)
                return self._say("coach_paused", client_name=client.name, date=_day(until, zone))
            case commands.ResumeClient():
                return await self._resume(session, client, now)
            case commands.RecordSession(day=day):
                new = await coaching_sessions.record_session(session, client.id, day, f"coach:{coach.id}", now)
                key = "coach_session_recorded" if new else "coach_session_known"
                return self._say(key, client_name=client.name, date=_day(day, zone))
            case commands.SnoozeAlerts(duration=duration):
                until = now + duration
                await clients.set_alerts_snoozed(session, client.id, until)
                return self._say("coach_snoozed", client_name=client.name, date=_day(until, zone))
        raise AssertionError(f"unhandled coach command {command!r}")

    # ---- commands -------------------------------------------------------------------------------------

    async def _list_clients(self, session: Session, coach: Coach, now: datetime, zone: ZoneInfo) -> CoachReply:
        rows = await client_statuses(session, self._question_sets, now, coach_id=coach.id)
        if not rows:
            return self._say("coach_no_clients")
        lines = [self._texts.render("coach_clients_title", count=len(rows))]
        lines += [self._client_line(row, zone) for row in rows]
        return CoachReply("\n".join(lines))

    def _client_line(self, row: ClientStatus, zone: ZoneInfo) -> str:
        texts = self._texts
        last = (
            f"{_day(row.last_checkin_at, zone)} ({self._texts.render(f'checkin_status_{row.last_checkin_status}')})"
            if row.last_checkin_at is not None
            else texts.render("coach_client_never")
        )
        rate = f"{row.response_rate:.0%}" if row.response_rate is not None else texts.render("coach_client_rate_none")
        alerts = texts.render("digest_open_alerts", count=row.open_alerts) if row.open_alerts else ""
        return texts.render(
            "coach_client_line",
            arrow=row.arrow,
            client_name=row.name,
            client_id=row.id,
            state=self._state_text(row.state, row.paused_until, ZoneInfo(row.timezone)),
            last=last,
            rate=rate,
            alerts=alerts,
        )

    def _state_text(self, state: str, paused_until: datetime | None, zone: ZoneInfo) -> str:
        if state == "paused" and paused_until is not None:
            return self._texts.render("coach_state_paused", date=_day(paused_until, zone))
        return self._texts.render(f"coach_state_{state}")

    async def _trend(self, session: Session, client: Client, now: datetime, zone: ZoneInfo) -> CoachReply:
        history = await client_history(session, client.id)
        if not history:
            return self._say("coach_trend_empty", client_name=client.name)
        question_set = self._question_sets[client.question_set]
        [row] = await client_statuses(session, self._question_sets, now, client_ids=[client.id])
        marks = await alert_marks(session, client.id, since=history[0].at)
        chart = await drawing.draw(
            TrendChart(client.name, history, question_set, self._alerts.low_score_floor, self._texts, marks)
        )
        last = f"{_day(history[-1].at, zone)} ({self._texts.render(f'checkin_status_{history[-1].status}')})"
        alerts = self._texts.render("digest_open_alerts", count=row.open_alerts) if row.open_alerts else ""
        text = self._texts.render("coach_trend", client_name=client.name, arrow=row.arrow, last=last, alerts=alerts)
        return CoachReply(text, chart)

    async def _answers(self, session: Session, client: Client, count: int, zone: ZoneInfo) -> CoachReply:
        """The client's last ``count`` finished check-ins, oldest first, each as its summary was written."""
        history = await client_history(session, client.id)
        if not history:
            return self._say("coach_answers_empty", client_name=client.name)
        shown = range(max(len(history) - count, 0), len(history))
        states = await checkins.conversation_states(session, client.id, [history[i].at for i in shown])
        question_set = self._question_sets[client.question_set]
        parts = [self._texts.render("coach_answers_title", client_name=client.name, count=len(shown))]
        for i in shown:
            state = states.get(history[i].at)
            skipped = engine.ConversationState.from_json(state).skipped() if state is not None else ()
            view = summary.CheckInView(history[i], skipped)
            parts.append(
                summary.compose(client.name, view, history[:i], question_set=question_set, texts=self._texts, zone=zone)
            )
        return CoachReply("\n\n".join(parts))

    async def _send_checkin(self, session: Session, client: Client, now: datetime, zone: ZoneInfo) -> CoachReply:
        state = client_state(client, now)
        if state != "active":
            return self._say(
                "coach_checkin_not_sent",
                client_name=client.name,
                state=self._state_text(state, client.paused_until, zone),
            )
        # An open check-in is superseded by the new one, as when a scheduled slot comes due.
        if client.id not in await self._start_checkins(session, [(client.id, now)], now):
            return self._say("coach_checkin_no_address", client_name=client.name)
        return self._say("coach_checkin_sent", client_name=client.name)

    async def _resume(self, session: Session, client: Client, now: datetime) -> CoachReply:
        if client.opted_out_at is not None:
            return self._say("coach_resume_stopped", client_name=client.name)
        if client.paused_until is None or client.paused_until <= now:
            return self._say("coach_resume_not_paused", client_name=client.name)
        await clients.set_client_pause(session, client.id, None)
        return self._say("coach_resumed", client_name=client.name)

    # ---- helpers --------------------------------------------------------------------------------------

    async def client_of(self, session: Session, coach_id: str | None, client_id: str) -> ClientGlance | None:
        """The active client ``client_id`` at a glance if ``coach_id`` coaches them; ``coach_id`` None (the admin's
        read-only view) sees every client. The dashboard's one check of who may see a client."""
        found = await clients.client_glances(session, coach_id=coach_id, client_ids=[client_id])
        return found[0] if found else None

    async def _resolve(self, session: Session, coach: Coach, name: str) -> Client | CoachReply:
        """The coach's own active client ``name`` refers to: an id, a full or first name, or ``#<alert id>``."""
        wanted = name.casefold().strip()
        if wanted.startswith("#") and wanted[1:].isdecimal():
            if int(wanted[1:]) > commands.MAX_ALERT_ID:
                return self._say("coach_unknown_client", name=name)
            found = await clients.coachs_client_alerted_in(session, coach.id, int(wanted[1:]))
            return found if found is not None else self._say("coach_unknown_client", name=name)
        own = sorted(await clients.active_clients(session, coach_id=coach.id), key=lambda c: c.id)
        for matches in (
            [c for c in own if c.id == wanted],
            [c for c in own if c.name.casefold() == wanted],
            [c for c in own if c.name.split()[0].casefold() == wanted],
        ):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                options = ", ".join(f"{c.name} ({c.id})" for c in matches)
                return self._say("coach_ambiguous_client", name=name, options=options, example=matches[0].id)
        return self._say("coach_unknown_client", name=name)

    def _acknowledged(self, count: int) -> CoachReply:
        return self._say("coach_acknowledged", count=count) if count else self._say("coach_nothing_to_acknowledge")

    def _say(self, key: str, **values: object) -> CoachReply:
        return CoachReply(self._texts.render(key, **values))


def _day(moment: datetime | date, zone: ZoneInfo) -> str:
    day = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
    return f"{day.day} {day:%B %Y}"
