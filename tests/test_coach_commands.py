"""Coach commands and alert buttons through the runtime on both databases, and who may do what.

The authorization matrix at the end is the contract of DESIGN §7: a coach acts on their own clients only,
a client only on themselves, and strangers and removed people get the stranger's refusal with nothing stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.builder import Bot
from bot.coaching.commands import (
    Acknowledge,
    CoachHelp,
    ListClients,
    PauseClient,
    RecordSession,
    ResumeClient,
    SendCheckIn,
    ShowTrend,
    SnoozeAlerts,
    Unknown,
    parse_coach_command,
)
from bot.contract.messages import InboundChoice, InboundText, OutboundMessage
from bot.store import coaching_sessions
from bot.store.models import Alert, CheckIn, Client, CoachingSession, OutboxMessage, ProcessedEvent
from bot.timing.clock import ManualClock
from tests.conftest import DatabaseTarget
from tests.fakes import CollectingAdapter, runtime_for

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
  telegram: {bot_token: "${TELEGRAM_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
  - {id: leo, name: Leo Park, timezone: America/New_York, slack: {user_id: U0LEO00001}}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
  - {id: dana-r, name: Dana Rivers, coach: maya, timezone: Europe/Paris, cadence: weekly,
     slack: {user_id: U0DANR0001}}
  - {id: sam-l, name: Sam Lee, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {user_id: U0SAML0001}}
  - {id: sam-o, name: Sam Ortiz, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {user_id: U0SAMO0001}}
  - {id: tove, name: Tove Lind, coach: maya, timezone: Europe/Paris, cadence: weekly, telegram: {}}
{leo_as_client}  - id: omar
    name: Omar Haddad
    coach: leo
    timezone: America/New_York
    cadence: weekly
    slack: {user_id: U0OMAR0001}
    goals: [{id: hire, title: Hire a COO}]
"""
#: Leo coaches Omar and is himself coached by Maya, under the same Slack user.
LEO_AS_CLIENT = """\
  - {id: leo-c, name: Leo Park, coach: maya, timezone: America/New_York, cadence: weekly,
     slack: {user_id: U0LEO00001}}
"""
CONFIG = CONFIG.replace("{leo_as_client}", LEO_AS_CLIENT)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
DANA, DANA_R, OMAR = "U0DANA0001", "U0DANR0001", "U0OMAR0001"
MAYA, LEO = "U0MAYA0001", "U0LEO00001"
#: Answers that walk a one-goal check-in to the end with trust at 1: an urgent alert.
LOW_TRUST = ["4", "4", "4", "1", "4", "4", "Be more direct with me", "Thanks"]

RuntimeFactory = Callable[[str], Bot]


@pytest.fixture
async def make_runtime(
    database_target: DatabaseTarget, tmp_path: Path, clock: ManualClock, slack: CollectingAdapter
) -> AsyncIterator[RuntimeFactory]:
    started: list[Bot] = []

    def build(config: str = CONFIG) -> Bot:
        path = tmp_path / f"config-{len(started)}.yaml"
        path.write_text(config, encoding="utf-8")
        runtime = runtime_for(path, database_target.create(), clock, {"slack": slack}, worker_id=f"t{len(started)}")
        started.append(runtime)
        return runtime

    yield build
    for runtime in started:
        await runtime.stop()


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> Bot:
    built = make_runtime(CONFIG)
    await built.start()
    return built


class Chat:
    """Types as one person and returns what the bot sent back to them."""

    def __init__(self, runtime: Bot, slack: CollectingAdapter) -> None:
        self.runtime, self.slack = runtime, slack
        self._keys = 0

    async def say(self, sender: str, text: str) -> list[OutboundMessage]:
        self._keys += 1
        return await self._deliver(sender, InboundText("slack", sender, f"ev-{self._keys}", text))

    async def press(
        self, sender: str, value: str, step_key: str = "coach", checkin_id: int = 0
    ) -> list[OutboundMessage]:
        self._keys += 1
        return await self._deliver(
            sender, InboundChoice("slack", sender, f"ev-{self._keys}", checkin_id, step_key, value)
        )

    async def _deliver(self, sender: str, event: InboundText | InboundChoice) -> list[OutboundMessage]:
        before = len(self.slack.sent)
        await self.runtime.inbound.handle(event)
        await self.runtime.outbox.drain()
        return [m for m in self.slack.sent[before:] if m.recipient == sender]


@pytest.fixture
def chat(runtime: Bot, slack: CollectingAdapter) -> Chat:
    return Chat(runtime, slack)


async def raise_alert(chat: Chat, client: str, address: str) -> Alert:
    """Run a check-in for ``client`` with trust at 1 and return the alert it raised."""
    checkin_id = await chat.runtime.lifecycle.start_checkin(client, NOW - timedelta(days=1))
    assert checkin_id is not None
    for reply in LOW_TRUST:
        await chat.say(address, reply)
    async with chat.runtime.database.session() as session:
        return (await session.scalars(select(Alert).where(Alert.client_id == client))).one()


async def alert_state(chat: Chat, alert_id: int) -> Alert:
    async with chat.runtime.database.session() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return alert


async def client_row(chat: Chat, client_id: str) -> Client:
    async with chat.runtime.database.session() as session:
        client = await session.get(Client, client_id)
        assert client is not None
        return client


async def checkins_of(chat: Chat, client_id: str) -> list[CheckIn]:
    async with chat.runtime.database.session() as session:
        return list((await session.scalars(select(CheckIn).where(CheckIn.client_id == client_id))).all())


# ---- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clients", ListClients()),
        ("/clients", ListClients()),
        ("clients please", Unknown("coach_usage_clients")),
        ("help", CoachHelp()),
        ("trend Dana Whitfield", ShowTrend("dana whitfield")),
        ("checkin dana", SendCheckIn("dana")),
        ("check-in #12", SendCheckIn("#12")),
        ("pause dana 2w", PauseClient("dana", timedelta(weeks=2))),
        ("pause dana rivers 10 days", PauseClient("dana rivers", timedelta(days=10))),
        ("pause dana", Unknown("coach_usage_pause")),
        ("resume dana", ResumeClient("dana")),
        ("session dana 2026-11-20", RecordSession("dana", date(2026, 11, 20))),
        ("session dana yesterday", RecordSession("dana", date(2026, 11, 22))),
        ("session dana", Unknown("coach_usage_session")),
        ("session dana next tuesday", Unknown("coach_usage_session")),
        ("ack", Acknowledge()),
        ("ack 12", Acknowledge(alert_id=12)),
        ("ack dana", Acknowledge(client="dana")),
        ("ack 99999999999999999999", Unknown("coach_usage_ack")),
        ("snooze #12 7d", SnoozeAlerts("#12", timedelta(days=7))),
        ("snooze dana", SnoozeAlerts("dana")),
        ("trend", Unknown("coach_usage_trend")),
        ("how is everyone doing?", Unknown()),
        ("", Unknown()),
    ],
)
def test_coach_commands_are_read(text: str, expected: object) -> None:
    assert parse_coach_command(text, date(2026, 11, 23)) == expected


# ---- commands -----------------------------------------------------------------------------------------


async def test_an_alert_carries_buttons_and_ack_closes_it(chat: Chat, slack: CollectingAdapter) -> None:
    alert = await raise_alert(chat, "dana", DANA)
    _summary, to_coach = slack.to(MAYA)
    assert to_coach.image_png is not None and to_coach.step_key == "coach"
    assert [c.value for c in to_coach.choices] == [f"ack {alert.id}", f"checkin #{alert.id}", f"snooze #{alert.id} 7d"]

    [reply] = await chat.press(MAYA, f"ack {alert.id}")
    assert reply.text == "Acknowledged 1 alert(s)."
    acknowledged = await alert_state(chat, alert.id)
    assert acknowledged.acknowledged_by == "coach:maya" and acknowledged.acknowledged_at == NOW
    [again] = await chat.press(MAYA, f"ack {alert.id}")
    assert again.text == "No open alerts to acknowledge."


async def test_the_check_in_button_sends_one_now(chat: Chat, slack: CollectingAdapter) -> None:
    alert = await raise_alert(chat, "dana", DANA)
    slack.clear()
    [reply] = await chat.press(MAYA, f"checkin #{alert.id}")
    assert reply.text == "A check-in is on its way to Dana Whitfield."
    assert slack.to(DANA)[-1].step_key == "progress:delegate"
    assert [c.slot for c in await checkins_of(chat, "dana")] == [NOW - timedelta(days=1), NOW]


async def test_snoozed_alerts_are_stored_but_not_sent(chat: Chat, slack: CollectingAdapter) -> None:
    [reply] = await chat.say(MAYA, "snooze dana 7d")
    assert (
        reply.text
        == "Alerts about Dana Whitfield are held back until 30 November 2026; they still show in your digest."
    )
    assert (await client_row(chat, "dana")).alerts_snoozed_until == NOW + timedelta(days=7)
    slack.clear()
    alert = await raise_alert(chat, "dana", DANA)
    assert alert.severity == "urgent"
    [summary] = slack.to(MAYA)  # the check-in still reaches the coach; the alert about it does not
    assert summary.text.startswith("Dana Whitfield answered") and summary.choices == ()


async def test_the_snooze_button_names_the_alerts_client(chat: Chat) -> None:
    alert = await raise_alert(chat, "dana", DANA)
    [reply] = await chat.press(MAYA, f"snooze #{alert.id} 7d")
    assert reply.text.startswith("Alerts about Dana Whitfield are held back until 30 November 2026")


async def test_clients_lists_only_the_coachs_own(chat: Chat) -> None:
    await raise_alert(chat, "dana", DANA)
    [reply] = await chat.say(MAYA, "clients")
    lines = reply.text.splitlines()
    assert lines[0] == "Your clients (6):"
    assert lines[1].startswith("· Dana Rivers (dana-r): active; last check-in none yet")
    assert "Dana Whitfield (dana): active; last check-in 22 November 2026 (answered); replied to 100%" in lines[2]
    assert "1 open alert(s)" in lines[2]
    assert "Omar" not in reply.text


async def test_trend_sends_the_chart(chat: Chat) -> None:
    [empty] = await chat.say(MAYA, "trend dana")
    assert empty.text == "Dana Whitfield has not answered a check-in yet, so there is no trend to show."
    await raise_alert(chat, "dana", DANA)
    [reply] = await chat.say(MAYA, "trend Dana Whitfield")
    assert reply.text.startswith("Dana Whitfield: relationship trend")
    assert reply.image_png is not None and reply.image_png.startswith(b"\x89PNG")


async def test_clients_are_named_by_id_full_name_or_unique_first_name(chat: Chat) -> None:
    [ambiguous] = await chat.say(MAYA, "pause Sam 2w")
    assert ambiguous.text == '"sam" could be Sam Lee (sam-l), Sam Ortiz (sam-o). Use the id, for example: sam-l'
    [by_full_name] = await chat.say(MAYA, "pause sam ortiz 2w")
    assert by_full_name.text.startswith("Check-ins for Sam Ortiz are paused")
    [by_id] = await chat.say(MAYA, "pause Dana 2w")  # an id wins over the first names of Dana W. and Dana R.
    assert by_id.text.startswith("Check-ins for Dana Whitfield are paused")
    assert (await client_row(chat, "sam-l")).paused_until is None


async def test_pause_resume_and_the_clients_own_stop(chat: Chat) -> None:
    [paused] = await chat.say(MAYA, "pause dana-r 2w")
    assert paused.text == "Check-ins for Dana Rivers are paused until 7 December 2026. Dana Rivers is not told."
    assert (await client_row(chat, "dana-r")).paused_until == NOW + timedelta(weeks=2)
    [not_sent] = await chat.say(MAYA, "checkin dana-r")
    assert not_sent.text == "No check-in sent: Dana Rivers is paused until 7 December 2026."
    [resumed] = await chat.say(MAYA, "resume dana-r")
    assert resumed.text == "Check-ins for Dana Rivers start again with the next one due."
    assert (await client_row(chat, "dana-r")).paused_until is None

    await chat.say(DANA_R, "stop")
    [refused] = await chat.say(MAYA, "resume dana-r")
    assert "only they can start them again" in refused.text
    assert (await client_row(chat, "dana-r")).opted_out_at is not None
    [not_sent] = await chat.say(MAYA, "checkin dana-r")
    assert not_sent.text == "No check-in sent: Dana Rivers is stopped by the client."
    assert await checkins_of(chat, "dana-r") == []


async def test_sessions_are_recorded_once(chat: Chat) -> None:
    [first] = await chat.say(MAYA, "session dana 2026-11-20")
    assert first.text == "Session with Dana Whitfield on 20 November 2026 recorded."
    [second] = await chat.say(MAYA, "session dana 2026-11-20")
    assert second.text == "The session with Dana Whitfield on 20 November 2026 was already recorded."
    async with chat.runtime.database.session() as session:
        [recorded] = (await session.scalars(select(CoachingSession))).all()
        assert (recorded.client_id, recorded.session_date, recorded.recorded_by) == (
            "dana",
            date(2026, 11, 20),
            "coach:maya",
        )


async def test_anything_else_gets_the_command_list(chat: Chat) -> None:
    [reply] = await chat.say(MAYA, "how is everyone doing?")
    assert reply.text.startswith("What you can ask me")
    [usage] = await chat.say(MAYA, "pause dana")
    assert usage.text == "Say who and for how long, for example: pause anna 2w"


async def test_a_client_asks_for_a_check_in(chat: Chat, slack: CollectingAdapter) -> None:
    opening = await chat.say(DANA, "checkin")
    assert opening[-1].step_key == "progress:delegate"
    again = await chat.say(DANA, "check-in")
    assert again[0].text.startswith("We are in the middle of a check-in already")
    assert again[-1].step_key == "progress:delegate"
    await chat.say(DANA, "pause 2w")
    [paused] = await chat.say(DANA, "checkin")
    assert paused.text.startswith("Your check-ins are paused or stopped.")
    assert len(await checkins_of(chat, "dana")) == 1


async def test_a_pressed_coach_button_acts_once(chat: Chat, slack: CollectingAdapter) -> None:
    alert = await raise_alert(chat, "dana", DANA)
    slack.clear()
    event = InboundChoice("slack", MAYA, "press-1", 0, "coach", f"checkin #{alert.id}")
    await chat.runtime.inbound.handle(event)
    await chat.runtime.inbound.handle(event)  # the platform delivers the press again
    await chat.runtime.outbox.drain()
    assert len(slack.to(MAYA)) == 1
    assert len(await checkins_of(chat, "dana")) == 2


async def test_a_client_without_an_address_is_not_said_to_be_sent_a_check_in(chat: Chat) -> None:
    [reply] = await chat.say(MAYA, "checkin tove")
    assert reply.text.startswith("No check-in sent: Tove Lind cannot be reached yet")
    assert await checkins_of(chat, "tove") == []


async def test_alert_numbers_beyond_the_database_are_answered_not_crashed_on(chat: Chat) -> None:
    for command in ("ack 99999999999999999999", "checkin #99999999999", "snooze #99999999999 7d"):
        [reply] = await chat.say(MAYA, command)
        assert reply.text in (
            "Send ack, ack CLIENT, or use the alert's button.",
            'None of your clients is called "#99999999999". Send "clients" to see them.',
        ), command


async def test_a_coach_who_is_also_a_client_keeps_their_own_client_words(chat: Chat, slack: CollectingAdapter) -> None:
    """Leo coaches Omar and is coached by Maya: whole coach commands are his coach side, the rest his client side."""
    [listing] = await chat.say(LEO, "clients")
    assert listing.text.startswith("Your clients (1):") and "Omar Haddad" in listing.text
    [stopped] = await chat.say(LEO, "stop")
    assert stopped.text.startswith("Done: you will get no more check-ins")
    [resumed] = await chat.say(LEO, "resume")
    assert resumed.text != "Whose check-ins should start again? For example: resume anna"
    assert (await client_row(chat, "leo-c")).opted_out_at is None
    opening = await chat.say(LEO, "checkin")
    assert opening[-1].step_key is not None and len(await checkins_of(chat, "leo-c")) == 1
    [paused] = await chat.say(LEO, "pause omar 2w")
    assert paused.text.startswith("Check-ins for Omar Haddad are paused")


# ---- authorization matrix -----------------------------------------------------------------------------


async def test_a_stranger_gets_the_refusal_and_nothing_is_stored(chat: Chat) -> None:
    for attempt in (chat.say("U0STRANGER", "clients"), chat.press("U0STRANGER", "ack 1")):
        [refusal] = await attempt
        assert "don't have you on my list" in refusal.text
    async with chat.runtime.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_a_coach_cannot_reach_another_coachs_client(chat: Chat, slack: CollectingAdapter) -> None:
    alert = await raise_alert(chat, "omar", OMAR)
    slack.clear()
    unknown = 'None of your clients is called "{}". Send "clients" to see them.'
    for command, name in [
        ("trend omar", "omar"),
        ("trend Omar Haddad", "omar haddad"),
        ("checkin omar", "omar"),
        ("pause omar 2w", "omar"),
        ("resume omar", "omar"),
        ("session omar today", "omar"),
        ("snooze omar", "omar"),
        ("ack omar", "omar"),
        (f"checkin #{alert.id}", f"#{alert.id}"),
    ]:
        [reply] = await chat.say(MAYA, command)
        assert reply.text == unknown.format(name), command
        assert reply.image_png is None
    [ack] = await chat.press(MAYA, f"ack {alert.id}")
    assert ack.text == "No open alerts to acknowledge."
    [ack_all] = await chat.say(MAYA, "ack")
    assert ack_all.text == "No open alerts to acknowledge."

    assert slack.to(OMAR) == []
    assert (await alert_state(chat, alert.id)).acknowledged_at is None
    omar = await client_row(chat, "omar")
    assert (omar.paused_until, omar.alerts_snoozed_until) == (None, None)
    assert len(await checkins_of(chat, "omar")) == 1
    async with chat.runtime.database.session() as session:
        assert await coaching_sessions.recorded_sessions(session, ["omar"]) == {}
    [own] = await chat.press(LEO, f"ack {alert.id}")
    assert own.text == "Acknowledged 1 alert(s)."


async def test_a_client_cannot_use_coach_commands_or_buttons(chat: Chat, slack: CollectingAdapter) -> None:
    alert = await raise_alert(chat, "omar", OMAR)
    slack.clear()
    for reply in [
        *await chat.say(DANA, "trend omar"),
        *await chat.say(DANA, "clients"),
        *await chat.press(DANA, f"ack {alert.id}"),
        *await chat.press(DANA, f"checkin #{alert.id}"),
    ]:
        assert "Omar" not in reply.text and reply.image_png is None
    assert (await alert_state(chat, alert.id)).acknowledged_at is None
    assert slack.to(OMAR) == [] and len(await checkins_of(chat, "omar")) == 1


async def test_a_client_cannot_answer_anothers_check_in(chat: Chat, slack: CollectingAdapter) -> None:
    omar_checkin = await chat.runtime.lifecycle.start_checkin("omar", NOW)
    assert omar_checkin is not None
    await chat.press(DANA, "1", step_key="progress:hire", checkin_id=omar_checkin)
    record = await chat.runtime.lifecycle.checkin_record(omar_checkin)
    assert record.answers == ()


async def test_removed_people_are_strangers(make_runtime: RuntimeFactory, slack: CollectingAdapter) -> None:
    first = make_runtime(CONFIG)
    await first.start()
    await first.stop()
    without_omar_and_leo = (
        CONFIG.split("  - id: omar")[0]
        .replace("  - {id: leo, name: Leo Park, timezone: America/New_York, slack: {user_id: U0LEO00001}}\n", "")
        .replace(LEO_AS_CLIENT, "")
    )
    runtime = make_runtime(without_omar_and_leo)
    await runtime.start()
    chat = Chat(runtime, slack)
    for sender, text in [(OMAR, "4"), (OMAR, "checkin"), (LEO, "clients")]:
        [refusal] = await chat.say(sender, text)
        assert "don't have you on my list" in refusal.text
    assert await checkins_of(chat, "omar") == []
