"""Hypothesis strategies shared by the cadence and client-schedule property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bot.config import Cadence


def cadence(**fields: Any) -> Cadence:
    return Cadence.model_validate(fields)


CLOCK_TIMES = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))
QUIET_HOURS = st.one_of(
    st.none(),
    st.tuples(CLOCK_TIMES, CLOCK_TIMES)
    .filter(lambda pair: pair[0] != pair[1])
    .map(lambda p: {"start": p[0], "end": p[1]}),
)
#: Cadences that fire on their own: every N days, every N weeks on weekdays, cron.
TIMED_CADENCES = st.one_of(
    st.builds(
        lambda n, at, quiet: cadence(every=f"{n}d", at=at, quiet_hours=quiet),
        st.integers(1, 9),
        CLOCK_TIMES,
        QUIET_HOURS,
    ),
    st.builds(
        lambda n, days, at, quiet: cadence(every=f"{n}w", on=sorted(days), at=at, quiet_hours=quiet),
        st.integers(1, 4),
        st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1),
        CLOCK_TIMES,
        QUIET_HOURS,
    ),
    st.builds(
        lambda expression, quiet: cadence(cron=expression, quiet_hours=quiet),
        st.sampled_from(["30 2 * * *", "30 1 * * *", "*/20 * * * *", "0 0 * * 0", "0 9 1 * *", "15 3 * 3,10 *"]),
        QUIET_HOURS,
    ),
)
#: Every cadence form, including "N days after each session", which needs session dates to fire.
ALL_CADENCES = st.one_of(
    TIMED_CADENCES,
    st.builds(
        lambda days, at, quiet: cadence(after_sessions={"days": days, "at": at}, quiet_hours=quiet),
        st.integers(1, 10),
        CLOCK_TIMES,
        QUIET_HOURS,
    ),
)
