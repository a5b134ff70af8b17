"""Short runs of the chaos suite (``benchmarks/chaos``), so CI guards what it proves.

Real `checkin run` processes on a fresh PostgreSQL database, the fake platforms, scripted clients answering:
two Telegram webhook replicas killed with -9 at random instants and restarted, and a Slack Socket Mode bot
whose database connections are all cut for longer than the three handling retries it once relied on. Each
run must keep every promise: no answer or message lost, no check-in doubled, duplicates only from a crash
and no more than the rows in flight at the kills. The deadlines only stop a hung run; they are not measured.
"""

from __future__ import annotations

import pytest

from benchmarks.chaos.practice import Practice
from benchmarks.chaos.scenarios import database_outage, kills, run_scenario

pytestmark = [pytest.mark.process, pytest.mark.postgres]


async def test_two_replicas_killed_at_random_instants_lose_nothing_and_double_nothing() -> None:
    outcome = await run_scenario(
        "replicas_kill", Practice(12, "webhook"), kills(every=(1.0, 3.0), down=(0.2, 1.0)), replicas=2,
        lease="15s", deadline=240
    )
    assert outcome.harm.kills >= 1
    assert outcome.ledger.answers_given == 36  # every client answered all three questions
    assert outcome.problems() == [], outcome.line()


async def test_slack_socket_mode_loses_no_answer_to_a_long_database_outage() -> None:
    outcome = await run_scenario(
        "database_outage_socket", Practice(6, "socket"), database_outage(seconds=25, after_answers=3), deadline=240
    )
    assert outcome.harm.database_outages == 1
    assert outcome.ledger.answers_given == 18
    assert outcome.problems() == [], outcome.line()
