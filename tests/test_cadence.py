"""Slot maths: DST days, quiet hours, anchors and crontab weekdays, all with injected times."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Cadence
from bot.timing.cadence import next_slots
from tests.strategies import TIMED_CADENCES, cadence

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_days(slots: list[datetime], tz: ZoneInfo) -> list[date]:
    return [slot.astimezone(tz).date() for slot in slots]


def test_spring_forward_gap_is_shifted_by_the_gap() -> None:
    slots = next_slots(cadence(every="1d", at="02:30"), NEW_YORK, utc(2026, 3, 7), 3)
    assert slots == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]
    assert local_days(slots, NEW_YORK).count(date(2026, 3, 8)) == 1
    assert slots[1].astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_fall_back_ambiguity_takes_the_first_occurrence() -> None:
    slots = next_slots(cadence(every="1d", at="01:30"), LONDON, utc(2026, 10, 24), 3)
    assert slots == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert local_days(slots, LONDON).count(date(2026, 10, 25)) == 1
    assert slots[1].astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"


def test_cron_follows_the_same_dst_rules() -> None:
    gap = next_slots(cadence(cron="30 2 * * *"), NEW_YORK, utc(2026, 3, 8), 2)
    assert gap == [utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]
    repeated = next_slots(cadence(cron="30 1 * * *"), LONDON, utc(2026, 10, 25), 2)
    assert repeated == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_half_hourly_cron_never_goes_back_across_fall_back() -> None:
    slots = next_slots(cadence(cron="*/30 * * * *"), LONDON, utc(2026, 10, 24, 23, 10), 6)
    assert slots == [
        utc(2026, 10, 24, 23, 30),
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 2, 30),
        utc(2026, 10, 25, 3, 0),
    ]


def test_weekly_on_weekdays_in_local_time() -> None:
    slots = next_slots(cadence(every="1w", on=["mon", "thu"], at="09:00"), PARIS, utc(2026, 1, 1), 4)
    assert [slot.astimezone(PARIS).strftime("%a %d %H:%M") for slot in slots] == [
        "Thu 01 09:00",
        "Mon 05 09:00",
        "Thu 08 09:00",
        "Mon 12 09:00",
    ]


def test_every_two_weeks_counts_from_the_monday_of_the_start_week() -> None:
    weekly = cadence(every="2w", on=["mon", "fri"], at="09:00", start="2026-01-07")
    slots = next_slots(weekly, LONDON, utc(2025, 12, 1), 4)
    # The start week (Mon 5 Jan) counts, but Monday the 5th is before the start date.
    assert local_days(slots, LONDON) == [date(2026, 1, 9), date(2026, 1, 19), date(2026, 1, 23), date(2026, 2, 2)]


def test_every_n_days_is_anchored_on_start() -> None:
    slots = next_slots(cadence(every="3d", at="18:00", start="2026-01-02"), LONDON, utc(2026, 1, 6), 3)
    assert local_days(slots, LONDON) == [date(2026, 1, 8), date(2026, 1, 11), date(2026, 1, 14)]


def test_every_n_days_without_start_is_anchored_on_the_epoch() -> None:
    slots = next_slots(cadence(every="10d", at="12:00"), ZoneInfo("UTC"), utc(2026, 1, 1), 2)
    assert [(day - date(1970, 1, 1)).days % 10 for day in local_days(slots, ZoneInfo("UTC"))] == [0, 0]


def test_results_are_strictly_after_the_given_instant() -> None:
    daily = cadence(every="1d", at="09:00")
    assert next_slots(daily, ZoneInfo("UTC"), utc(2026, 1, 1, 9), 1) == [utc(2026, 1, 2, 9)]
    assert next_slots(daily, ZoneInfo("UTC"), utc(2026, 1, 1, 8, 59, 59), 1) == [utc(2026, 1, 1, 9)]
    assert next_slots(daily, ZoneInfo("UTC"), utc(2026, 1, 1), 0) == []


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slots(cadence(every="1d", at="09:00"), LONDON, datetime(2026, 1, 1), 1)


def test_quiet_hours_move_a_slot_to_their_end_across_midnight() -> None:
    late = cadence(every="1d", at="22:00", quiet_hours={"start": "21:00", "end": "07:30"})
    slots = next_slots(late, LONDON, utc(2026, 1, 5), 2)
    assert slots == [utc(2026, 1, 5, 7, 30), utc(2026, 1, 6, 7, 30)]


def test_quiet_hours_collapse_several_slots_into_one() -> None:
    hourly = cadence(cron="0 * * * *", quiet_hours={"start": "21:00", "end": "07:30"})
    slots = next_slots(hourly, ZoneInfo("UTC"), utc(2026, 1, 1, 19, 30), 4)
    assert slots == [utc(2026, 1, 1, 20), utc(2026, 1, 2, 7, 30), utc(2026, 1, 2, 8), utc(2026, 1, 2, 9)]


def test_quiet_hours_within_one_day() -> None:
    lunch = cadence(every="1d", at="12:15", quiet_hours={"start": "12:00", "end": "13:00"})
    assert next_slots(lunch, ZoneInfo("UTC"), utc(2026, 1, 1), 1) == [utc(2026, 1, 1, 13)]


def test_a_slot_pushed_past_after_by_quiet_hours_is_still_found() -> None:
    late = cadence(every="1w", on=["sun"], at="23:00", quiet_hours={"start": "22:00", "end": "08:00"})
    # Sunday 4 Jan 23:00 moves to Monday 5 Jan 08:00, after the instant we ask from.
    assert next_slots(late, ZoneInfo("UTC"), utc(2026, 1, 5, 1), 1) == [utc(2026, 1, 5, 8)]


@pytest.mark.parametrize(
    ("weekday_field", "expected"),
    [
        ("1", ["Mon"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("sat,SUN", ["Sun", "Sat"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("5-7", ["Sun", "Fri", "Sat"]),
    ],
)
def test_cron_weekdays_use_crontab_numbering(weekday_field: str, expected: list[str]) -> None:
    slots = next_slots(cadence(cron=f"0 9 * * {weekday_field}"), ZoneInfo("UTC"), utc(2026, 1, 4), 7)
    week = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert sorted({slot.strftime("%a") for slot in slots}, key=week.index) == expected


def test_no_slot_before_start() -> None:
    slots = next_slots(cadence(cron="0 9 * * *", start="2026-06-01"), LONDON, utc(2026, 1, 1), 1)
    assert local_days(slots, LONDON) == [date(2026, 6, 1)]


def test_impossible_cron_yields_nothing_quickly() -> None:
    with pytest.raises(ValueError, match="never fires"):
        cadence(cron="0 9 31 2 *")


_ZONES = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "Europe/London",
        "Europe/Paris",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "America/Santiago",
        "Pacific/Apia",
        "America/St_Johns",
        "Africa/Casablanca",
    ]
)


@settings(deadline=None)
@given(
    plan=TIMED_CADENCES,
    zone=_ZONES,
    after=st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    count=st.integers(1, 12),
)
def test_slots_are_unique_increasing_and_after(plan: Cadence, zone: str, after: datetime, count: int) -> None:
    slots = next_slots(plan, ZoneInfo(zone), after, count)
    assert len(slots) == count
    assert all(slot.tzinfo is UTC for slot in slots)
    assert slots[0] > after
    assert all(earlier < later for earlier, later in itertools.pairwise(slots))
    if plan.every is not None and plan.every.unit == "d" and plan.quiet_hours is None:
        days = local_days(slots, ZoneInfo(zone))
        assert len(set(days)) == len(days), "a daily cadence must give one slot per local day"
    assert next_slots(plan, ZoneInfo(zone), slots[0] - timedelta(microseconds=1), 1) == slots[:1]
