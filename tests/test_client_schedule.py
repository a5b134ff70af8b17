"""A client's slots: overrides, sessions, pauses and paused_until on top of the cadence, with injected times."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Config
from bot.scheduling.client_schedule import (
    ClientSchedule,
    SlotWalks,
    UnknownClientError,
    schedule_for,
    slots_after,
    slots_between,
)
from tests.strategies import ALL_CADENCES, cadence

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants bounding a local day, for ``slots_between(start, end)`` (start excluded)."""
    start = datetime.combine(day, time.min, tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC)
    return start, end


def config(*clients: dict[str, Any], cadences: dict[str, Any] | None = None) -> Config:
    return Config.model_validate(
        {
            "cadences": cadences or {"weekly": {"every": "1w", "on": ["mon", "thu"], "at": "09:00"}},
            "coaches": [{"id": "maya", "name": "Maya", "timezone": "UTC", "telegram": {}}],
            "clients": [
                {"name": "Client", "coach": "maya", "timezone": "Europe/Paris", "cadence": "weekly", "telegram": {}}
                | client
                for client in clients
            ],
        }
    )


@pytest.mark.parametrize(
    ("tz", "at", "day", "expected"),
    [
        (NEW_YORK, "02:30", date(2026, 3, 8), utc(2026, 3, 8, 7, 30)),  # 02:30 does not exist: 03:30 EDT
        (LONDON, "01:30", date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # 01:30 happens twice: the first
    ],
)
def test_dst_day_has_exactly_one_slot(tz: ZoneInfo, at: str, day: date, expected: datetime) -> None:
    schedule = ClientSchedule("dana", tz, cadence(every="1d", at=at))
    assert slots_between(schedule, *local_day(day, tz)) == [expected]
    cron = ClientSchedule("dana", tz, cadence(cron=f"{at[3:]} {at[:2]} * * *"))
    assert slots_between(cron, *local_day(day, tz)) == [expected]


def test_schedule_for_applies_overrides_and_the_config_pause() -> None:
    loaded = config(
        {
            "id": "dana",
            "cadence_overrides": {"on": ["tue"], "at": "07:30"},
            "paused_until": "2026-02-03",
            "pauses": [{"from": "2026-02-10", "to": "2026-02-17"}],
        }
    )
    schedule = schedule_for(loaded, "dana")
    assert schedule.paused_until == utc(2026, 2, 2, 23)  # midnight in Paris
    assert schedule.pauses == ((date(2026, 2, 10), date(2026, 2, 17)),)
    slots = slots_after(schedule, utc(2026, 1, 1), 3)
    # Tue 3 Feb is the day she is back; 10 and 17 Feb are dropped by the holiday, not moved.
    assert slots == [utc(2026, 2, 3, 6, 30), utc(2026, 2, 24, 6, 30), utc(2026, 3, 3, 6, 30)]


def test_paused_until_from_the_database_replaces_the_config_one() -> None:
    loaded = config({"id": "dana", "paused_until": "2026-02-03"})
    own_pause = datetime(2026, 1, 20, 12, tzinfo=PARIS)
    schedule = schedule_for(loaded, "dana", paused_until=own_pause)
    assert schedule.paused_until == utc(2026, 1, 20, 11)
    assert slots_after(schedule, utc(2026, 1, 1), 2) == [utc(2026, 1, 22, 8), utc(2026, 1, 26, 8)]


def test_a_slot_at_paused_until_is_kept() -> None:
    schedule = ClientSchedule("dana", ZoneInfo("UTC"), cadence(every="1d", at="09:00"), paused_until=utc(2026, 1, 5, 9))
    assert slots_after(schedule, utc(2026, 1, 1), 1) == [utc(2026, 1, 5, 9)]
    assert slots_between(schedule, utc(2026, 1, 1), utc(2026, 1, 5, 8)) == []


def test_sessions_from_config_and_runtime_are_merged() -> None:
    loaded = config(
        {"id": "dana", "cadence": "after", "sessions": ["2026-11-02", "2026-11-30"]},
        cadences={"after": {"after_sessions": {"days": 3, "at": "09:00"}}},
    )
    schedule = schedule_for(loaded, "dana", sessions=[date(2026, 11, 30), date(2026, 11, 16)])
    assert schedule.sessions == (date(2026, 11, 2), date(2026, 11, 16), date(2026, 11, 30))
    assert [slot.date() for slot in slots_after(schedule, utc(2026, 11, 1), 5)] == [
        date(2026, 11, 5),
        date(2026, 11, 19),
        date(2026, 12, 3),
    ]


def test_no_session_check_in_on_a_session_day_or_the_day_before() -> None:
    rule = cadence(after_sessions={"days": 3, "at": "09:00"})
    sessions = (date(2026, 11, 2), date(2026, 11, 5), date(2026, 11, 9), date(2026, 11, 20))
    schedule = ClientSchedule("dana", PARIS, rule, sessions=sessions)
    # 5 Nov is a session, 8 Nov is the eve of one; 12 and 23 Nov are free.
    assert [slot.astimezone(PARIS).date() for slot in slots_after(schedule, utc(2026, 11, 1), 9)] == [
        date(2026, 11, 12),
        date(2026, 11, 23),
    ]


def test_quiet_hours_pushing_a_session_check_in_onto_an_eve_drop_it() -> None:
    rule = cadence(after_sessions={"days": 2, "at": "23:00"}, quiet_hours={"start": "22:00", "end": "08:00"})
    # 2 days after 1 Nov is 3 Nov 23:00, moved to 4 Nov 08:00: the eve of the 5 Nov session.
    schedule = ClientSchedule("dana", ZoneInfo("UTC"), rule, sessions=(date(2026, 11, 1), date(2026, 11, 5)))
    assert slots_after(schedule, utc(2026, 10, 1), 3) == [utc(2026, 11, 8, 8)]


def test_session_cadence_without_sessions_has_no_slots() -> None:
    schedule = ClientSchedule("dana", PARIS, cadence(after_sessions={"days": 3, "at": "09:00"}))
    assert slots_after(schedule, utc(2026, 1, 1), 5) == []
    assert slots_between(schedule, utc(2026, 1, 1), utc(2027, 1, 1)) == []


def test_overlapping_pauses_and_a_pause_ending_the_horizon() -> None:
    pauses = ((date(2026, 1, 5), date(2026, 1, 10)), (date(2026, 1, 8), date(2026, 1, 20)))
    schedule = ClientSchedule("dana", ZoneInfo("UTC"), cadence(every="1d", at="09:00"), pauses=pauses)
    assert slots_after(schedule, utc(2026, 1, 3), 3) == [utc(2026, 1, 3, 9), utc(2026, 1, 4, 9), utc(2026, 1, 21, 9)]
    forever = ClientSchedule(
        "dana", ZoneInfo("UTC"), cadence(every="1d", at="09:00"), pauses=((date(2026, 1, 1), date(2999, 12, 31)),)
    )
    assert slots_after(forever, utc(2026, 1, 1), 1) == []


def test_unknown_client_suggests_the_closest_id() -> None:
    loaded = config({"id": "dana"}, {"id": "sam"})
    with pytest.raises(UnknownClientError, match=r"unknown client 'dnaa' \(did you mean 'dana'\?\)"):
        schedule_for(loaded, "dnaa")


def test_naive_instants_are_refused() -> None:
    schedule = ClientSchedule("dana", PARIS, cadence(every="1d", at="09:00"), paused_until=utc(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        slots_after(schedule, datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        slots_between(schedule, utc(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule_for(config({"id": "dana"}), "dana", paused_until=datetime(2026, 1, 1))


_ZONES = st.sampled_from(sorted(available_timezones()))


@st.composite
def _schedules(draw: st.DrawFn) -> tuple[ClientSchedule, datetime]:
    after = draw(st.datetimes(datetime(2005, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)))
    near = st.integers(-30, 120).map(lambda offset: after.date() + timedelta(days=offset))
    pauses = draw(
        st.lists(st.tuples(near, st.integers(0, 20)).map(lambda p: (p[0], p[0] + timedelta(days=p[1]))), max_size=3)
    )
    paused_until = draw(st.none() | st.integers(-100, 2000).map(lambda hours: after + timedelta(hours=hours)))
    schedule = ClientSchedule(
        client_id="dana",
        timezone=ZoneInfo(draw(_ZONES)),
        cadence=draw(ALL_CADENCES),
        sessions=tuple(sorted(draw(st.sets(near, max_size=8)))),
        pauses=tuple(pauses),
        paused_until=paused_until,
    )
    return schedule, after


@settings(deadline=None)
@given(case=_schedules(), count=st.integers(1, 12), data=st.data())
def test_client_slots_respect_every_rule(
    case: tuple[ClientSchedule, datetime], count: int, data: st.DataObject
) -> None:
    schedule, after = case
    tz = schedule.timezone
    slots = slots_after(schedule, after, count)
    assert len(slots) <= count
    assert all(slot.tzinfo is UTC for slot in slots)
    assert all(slot > after for slot in slots)
    assert all(earlier < later for earlier, later in itertools.pairwise(slots))
    days = [slot.astimezone(tz).date() for slot in slots]
    assert not any(first <= day <= last for day in days for first, last in schedule.pauses)
    if schedule.paused_until is not None:
        assert all(slot >= schedule.paused_until for slot in slots)
    if schedule.cadence.after_sessions is not None:
        sessions = set(schedule.sessions)
        assert not any(day in sessions or day + timedelta(days=1) in sessions for day in days)
    else:
        assert len(slots) == count, "an every/cron cadence always has slots after a few short pauses"

    # The scheduler asks for windows; any window gives the slots that slots_after lists in it.
    end = slots[-1] if slots else after + timedelta(days=data.draw(st.integers(0, 400)))
    middle = after + (end - after) * data.draw(st.floats(0, 1))
    assert slots_between(schedule, after, end) == [slot for slot in slots if slot <= end]
    assert slots_between(schedule, after, middle) + slots_between(schedule, middle, end) == slots_between(
        schedule, after, end
    )


@given(cases=st.lists(_schedules(), min_size=1, max_size=4), windows=st.data())
def test_a_pass_memo_gives_each_schedule_its_own_slots(
    cases: list[tuple[ClientSchedule, datetime]], windows: st.DataObject
) -> None:
    # Every (schedule, window) asked twice, some schedules sharing a window: what the memo answers is what a
    # walk of its own gives, whichever schedule asked first.
    walks = SlotWalks()
    asked = [(schedule, after, after + timedelta(days=windows.draw(st.integers(0, 10)))) for schedule, after in cases]
    shared_end = asked[0][2]
    asked += [(schedule, asked[0][1], shared_end) for schedule, _, _ in asked]
    for schedule, start, end in asked + asked:
        assert list(walks.between(schedule, start, end)) == slots_between(schedule, start, end)


def test_a_pass_memo_tells_apart_schedules_that_differ_only_in_their_cadence() -> None:
    walks = SlotWalks()
    mondays = ClientSchedule("ana", PARIS, cadence(every="1w", on=["mon"], at="09:00"))
    tuesdays = ClientSchedule("ben", PARIS, cadence(every="1w", on=["tue"], at="09:00"))
    week = (utc(2026, 3, 1), utc(2026, 3, 8))
    assert walks.between(mondays, *week) == (utc(2026, 3, 2, 8),)
    assert walks.between(tuesdays, *week) == (utc(2026, 3, 3, 8),)
