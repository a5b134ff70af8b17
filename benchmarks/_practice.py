"""A seeded coaching practice for the dashboard's benchmark and screenshots: coaches, clients, a history of
weekly check-ins with answers and notes, and some alerts, written in bulk straight into the tables.

Deterministic (a seeded random generator), so the screenshots and the benchmark's data are the same each run.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.contract.statuses import CheckInStatus, Severity
from bot.store import Database
from bot.store.models import Alert, Answer, CheckIn

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PRACTICE_IDS = ("hope", "focus", "trust", "perspective", "support")
FIRST_NAMES = ("Dana", "Omar", "Priya", "Jonas", "Mei", "Lucas", "Amara", "Tobias", "Sofia", "Kenji", "Ines", "Ravi")
LAST_NAMES = ("Whitfield", "Haddad", "Nair", "Berg", "Chen", "Moreau", "Okafor", "Keller", "Rossi", "Sato")
NOTES = (
    "Good week, the board meeting went better than expected.",
    "Busy quarter; I had little time to work on the goals.",
    "The last session felt rushed, we did not get to my agenda.",
    "Delegating the planning is working, the team took it on.",
    "Not sure these sessions are helping me right now.",
)


def client_id(coach: int, index: int) -> str:
    return f"c{coach:02d}-{index:03d}"


def config_text(coaches: int, clients_per_coach: int, public_url: str = "https://coach.example.com") -> str:
    rng = random.Random(7)
    people = []
    for coach in range(coaches):
        for index in range(clients_per_coach):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            people.append(
                f"  - {{id: {client_id(coach, index)}, name: {name}, coach: coach{coach:02d}, timezone: Europe/Paris,"
                f" cadence: weekly, slack: {{user_id: U{coach:02d}{index:07d}}},"
                f" goals: [{{id: goal, title: Lead the offsite without stepping in}}]}}\n"
            )
    coach_lines = "".join(
        f"  - {{id: coach{n:02d}, name: Coach {n}, timezone: Europe/London, slack: {{user_id: UCOACH{n:04d}}}}}\n"
        for n in range(coaches)
    )
    return (
        f'dashboard: {{listen: "127.0.0.1:0", public_url: "{public_url}"}}\n'
        'platforms:\n  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}\n'
        'cadences:\n  weekly: {every: 1w, on: [mon], at: "09:00"}\n'
        "coaches:\n" + coach_lines + "clients:\n" + "".join(people)
    )


async def seed(database: Database, client_ids: list[str], checkins: int, *, seed: int = 11) -> int:
    """Write ``checkins`` weekly check-ins per client, the last a week before ``NOW``; returns how many rows."""
    rng = random.Random(seed)
    checkin_rows: list[dict[str, Any]] = []
    answer_rows: list[dict[str, Any]] = []
    alert_rows: list[dict[str, Any]] = []
    next_id = 1
    for client in client_ids:
        level = {q: rng.uniform(3.0, 4.6) for q in (*PRACTICE_IDS, "progress")}
        drifting = rng.random() < 0.2  # some relationships weaken towards the end
        for week in range(checkins):
            slot = NOW - timedelta(weeks=checkins - week, hours=3)
            expired = rng.random() < 0.1
            checkin_rows.append(
                {
                    "id": next_id,
                    "client_id": client,
                    "slot": slot,
                    "status": CheckInStatus.EXPIRED if expired else CheckInStatus.COMPLETED,
                    "question_set": "default",
                    "created_at": slot,
                    "sent_at": slot,
                    "completed_at": None if expired else slot + timedelta(hours=2),
                    "reminders_sent": 0,
                }
            )
            if not expired:
                late = drifting and week > checkins - 5
                for question, mean in level.items():
                    value = round(min(5, max(1, rng.gauss(mean - (1.6 if late else 0), 0.6))))
                    answer_rows.append(_answer(next_id, question, value, None, slot))
                if rng.random() < 0.5:
                    note = NOTES[4] if late else rng.choice(NOTES[:4])
                    answer_rows.append(_answer(next_id, "note", None, note, slot))
                if late and week == checkins - 1:
                    alert_rows.append(
                        {
                            "client_id": client,
                            "checkin_id": next_id,
                            "severity": Severity.URGENT if rng.random() < 0.5 else Severity.WATCH,
                            "signals": [
                                {
                                    "kind": "drop",
                                    "practice": "trust",
                                    "reason": "trust fell from its usual 4 to 2 in the last check-in",
                                }
                            ],
                            "created_at": slot + timedelta(hours=2),
                        }
                    )
            next_id += 1
    async with database.transaction() as session:
        for table, rows in ((CheckIn, checkin_rows), (Answer, answer_rows), (Alert, alert_rows)):
            for start in range(0, len(rows), 5000):
                await session.execute(sa.insert(table), rows[start : start + 5000])
    return len(checkin_rows) + len(answer_rows) + len(alert_rows)


def _answer(checkin_id: int, question: str, value: int | None, text: str | None, slot: datetime) -> dict[str, Any]:
    dimension = {"support": "relationship"}.get(question, question)
    return {
        "checkin_id": checkin_id,
        "step_key": "progress:goal" if question == "progress" else question,
        "question_id": question,
        "dimension": dimension,
        "goal_id": "goal" if question == "progress" else None,
        "value": value,
        "text": text,
        "answered_at": slot + timedelta(hours=1),
    }
