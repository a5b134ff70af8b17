"""Short runs of the chaos suite (``benchmarks/chaos``), so CI guards what it proves.

Real `checkin run` processes on a fresh PostgreSQL database, the fake platforms, scripted clients answering:
two Telegram webhook replicas killed with -9 at random instants and restarted, and a Telegram long-polling bot
whose database connections are all cut (and new ones refused) for 25 s while clients answer. Each run must lose
no answer and no message, double no check-in, complete every check-in and stop cleanly. Duplicate deliveries
are counted and judged by the suite (``python -m benchmarks.chaos``), not asserted here. The Slack Socket Mode
outage scenario is in the suite only: it still hangs in some runs (docs/reliability.md, "Chaos runs"); the
spool it relies on is tested in ``tests/test_spool.py``. The deadlines only stop a hung run; nothing is timed.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.chaos.practice import Practice
from benchmarks.chaos.scenarios import Outcome, database_outage, kills, run_scenario

pytestmark = [pytest.mark.process, pytest.mark.postgres]


def assert_nothing_lost(outcome: Outcome, answers: int) -> None:
    report = json.dumps(outcome.line())
    counted = outcome.ledger
    assert counted.answers_given == answers, report  # every client answered every question
    assert counted.answers_lost == 0, report
    assert counted.messages_lost == 0, report
    assert counted.checkins_doubled == 0, report
    assert counted.completed == counted.checkins == answers // 3, report
    assert outcome.clean_stops, report


async def test_two_replicas_killed_at_random_instants_lose_nothing_and_double_nothing() -> None:
    outcome = await run_scenario(
        "replicas_kill",
        Practice(12, "webhook"),
        kills(every=(1.0, 3.0), down=(0.2, 1.0)),
        replicas=2,
        lease="15s",
        deadline=240,
    )
    assert outcome.harm.kills >= 1
    assert_nothing_lost(outcome, answers=36)


async def test_telegram_polling_loses_no_answer_to_a_database_outage() -> None:
    outcome = await run_scenario(
        "database_outage_polling", Practice(6, "polling"), database_outage(seconds=25, after_answers=3), deadline=240
    )
    assert outcome.harm.database_outages == 1
    assert_nothing_lost(outcome, answers=18)
