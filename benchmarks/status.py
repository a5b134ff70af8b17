"""`checkin status`: every client's row (state, last check-in, response rate, trend) at N clients x 50 check-ins.

The history is written straight into the tables (completed weekly check-ins with the five relationship answers,
every fifth one expired), then ``client_statuses``, what `checkin status` prints, is timed over every client.

    python -m benchmarks.status [--clients N] [--checkins K] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.dispatch import DUE_AT, InstantAdapter, config_text
from bot.app.builder import build_bot
from bot.coaching.status import client_statuses
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.contract.statuses import CheckInStatus
from bot.store import Answer, CheckIn, Database
from bot.timing.clock import ManualClock

RELATIONSHIP = ("hope", "focus", "trust", "perspective", "support")


async def measure(clients: int, checkins: int, runs: int, directory: Path) -> dict[str, object]:
    path = directory / "config.yaml"
    path.write_text(config_text(clients), encoding="utf-8")
    config = load_config(path)
    question_sets = load_question_sets(config, path)
    start = DUE_AT - timedelta(weeks=checkins + 1)
    runtime = build_bot(
        config=config,
        question_sets=question_sets,
        texts=load_catalog(),
        database=Database(f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"),
        adapters={"slack": InstantAdapter()},
        clock=ManualClock(start),
        worker_id="bench",
        outbox_loop=False,
    )
    seconds: list[float] = []
    try:
        await runtime.start()
        await _seed(runtime.database, [c.id for c in config.clients], checkins, start)
        for _ in range(runs):
            began = time.perf_counter()
            async with runtime.database.session() as session:
                rows = await client_statuses(session, question_sets, DUE_AT)
            seconds.append(time.perf_counter() - began)
            if len(rows) != clients or any(row.response_rate is None for row in rows):
                raise RuntimeError("status did not cover every client")
    finally:
        await runtime.stop()
    return {
        "bench": "status",
        "backend": "sqlite",
        "clients": clients,
        "checkins_per_client": checkins,
        "seconds": round(statistics.median(seconds), 2),
        "seconds_min": round(min(seconds), 2),
        "seconds_max": round(max(seconds), 2),
        "runs": runs,
    }


async def _seed(database: Database, client_ids: list[str], checkins: int, start: Any) -> None:
    for week in range(checkins):
        slot = start + timedelta(weeks=week)
        status = CheckInStatus.EXPIRED if week % 5 == 4 else CheckInStatus.COMPLETED
        rows = [
            {
                "client_id": client_id,
                "slot": slot,
                "status": status,
                "question_set": "default",
                "state": None,
                "created_at": slot,
                "sent_at": slot,
                "last_activity_at": slot,
                "completed_at": slot if status == CheckInStatus.COMPLETED else None,
                "reminders_sent": 0,
            }
            for client_id in client_ids
        ]
        async with database.transaction() as session:
            await session.execute(CheckIn.__table__.insert(), rows)
            if status != CheckInStatus.COMPLETED:
                continue
            ids = (await session.execute(CheckIn.__table__.select().where(CheckIn.slot == slot))).all()
            answers = [
                {
                    "checkin_id": row.id,
                    "step_key": question,
                    "question_id": question,
                    "dimension": question,
                    "goal_id": None,
                    "value": 1 + (n + week) % 5,
                    "text": None,
                    "answered_at": slot,
                }
                for n, row in enumerate(ids)
                for question in RELATIONSHIP
            ]
            await session.execute(Answer.__table__.insert(), answers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, action="append", help="repeatable; default 10,000")
    parser.add_argument("--checkins", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args(argv)
    for clients in args.clients or [10_000]:
        with tempfile.TemporaryDirectory(prefix="checkin-bench-") as scratch:
            print(json.dumps(asyncio.run(measure(clients, args.checkins, args.runs, Path(scratch)))), flush=True)


if __name__ == "__main__":
    main()
