"""The admin commands as an admin runs them (in-process), against SQLite and PostgreSQL; `reload` signals a
real `checkin run` process.

`status`, `send-now`, `pause`, `resume`, `export`, `forget`, `purge` and `reload`, each checked for what it
prints and for what it changed in the database.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.contract.messages import InboundText
from bot.store import Database
from bot.store.models import Alert, Answer, CheckIn, Client, Identity, OutboxMessage
from bot.timing.clock import ManualClock
from tests.checkin_cli import checkin
from tests.fakes import CollectingAdapter, runtime_for

CONFIG = """
database: {{url: "{url}"}}
scheduling: {{sweep_interval: 5s}}
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  weekly: {{every: 1w, on: [mon], at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: Europe/London, slack: {{user_id: U0MAYA0001}}}}
clients:
  - {{id: ravi, name: Ravi Menon, coach: maya, timezone: UTC, cadence: weekly, slack: {{user_id: U0RAVI0001}}}}
"""
DANA = """\
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {user_id: U0DANA0001}
    goals: [{id: delegate, title: Delegate the quarterly planning}]
"""
NOTE = "Be more direct with me"
LOW_TRUST = ["4", "4", "4", "1", "4", "4", NOTE, "Thanks"]


def write_config(path: Path, url: str, extra_clients: str = DANA) -> Path:
    path.write_text(CONFIG.format(url=url) + extra_clients, encoding="utf-8")
    return path


async def seed_history(config: Path, url: str, at: datetime) -> None:
    """Dana answers one check-in at ``at`` with trust at 1, which raises an alert."""
    slack = CollectingAdapter("slack")
    runtime = runtime_for(config, Database(url), ManualClock(at), {"slack": slack})
    await runtime.start()
    try:
        await runtime.lifecycle.start_checkin("dana", at)
        for n, reply in enumerate(LOW_TRUST):
            await runtime.inbound.handle(InboundText("slack", "U0DANA0001", f"seed-{n}", reply))
        await runtime.outbox.drain()
    finally:
        await runtime.stop()


async def counts(url: str) -> dict[str, int]:
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            return {
                entity.__name__: int(await session.scalar(select(func.count()).select_from(entity)) or 0)
                for entity in (CheckIn, Answer, Alert, OutboxMessage, Client)
            }
    finally:
        await database.stop()


async def client_row(url: str, client_id: str) -> Client | None:
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            return await session.get(Client, client_id)
    finally:
        await database.stop()


@pytest.fixture
async def seeded(tmp_path: Path, cli_database_url: str) -> tuple[Path, str]:
    config = write_config(tmp_path / "config.yaml", cli_database_url)
    await seed_history(config, cli_database_url, datetime.now(UTC) - timedelta(days=3))
    return config, cli_database_url


async def test_status_shows_how_it_goes_and_nothing_anybody_said(seeded: tuple[Path, str]) -> None:
    config, _ = seeded
    result = await asyncio.to_thread(checkin, "status", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["CLIENT", "COACH", "STATE", "LAST", "CHECK-IN", "REPLIED", "TREND", "OPEN", "ALERTS"]
    dana = next(r for r in rows if r.startswith("dana"))
    assert dana.split()[:3] == ["dana", "maya", "active"] and dana.split()[-3:] == ["100%", "·", "1"]
    assert next(r for r in rows if r.startswith("ravi")).split() == ["ravi", "maya", "active", "-", "-", "·", "0"]
    assert NOTE not in result.stdout
    unknown = await asyncio.to_thread(checkin, "status", "--coach", "nobody", "--config", str(config))
    assert unknown.exit_code == 2 and "no coach 'nobody'" in unknown.stderr


async def test_export_has_everything_in_json_and_answers_in_csv(seeded: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = seeded
    result = await asyncio.to_thread(checkin, "export", "dana", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout)
    assert exported["client"]["id"] == "dana" and exported["goals"][0]["id"] == "delegate"
    [checkin_record] = exported["checkins"]
    answers = {a["step_key"]: (a["value"], a["text"]) for a in checkin_record["answers"]}
    assert answers["trust"] == (1, None) and answers["repair"] == (None, NOTE)
    assert exported["alerts"][0]["severity"] == "urgent"

    out = tmp_path / "dana.csv"
    as_csv = await asyncio.to_thread(checkin, "export", "dana", "--format", "csv", "-o", str(out), "-c", str(config))
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == len(checkin_record["answers"])
    assert {r["question_id"]: r["text"] for r in rows}["repair"] == NOTE

    bad = await asyncio.to_thread(checkin, "export", "dana", "--format", "xml", "-c", str(config))
    assert bad.exit_code == 2 and "json or csv" in bad.stderr
    nobody = await asyncio.to_thread(checkin, "export", "nobody", "-c", str(config))
    assert nobody.exit_code == 2 and "nothing about a client 'nobody'" in nobody.stderr


async def test_pause_resume_and_send_now(seeded: tuple[Path, str]) -> None:
    config, url = seeded
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
    paused = await asyncio.to_thread(checkin, "pause", "ravi", "--until", tomorrow.isoformat(), "-c", str(config))
    assert paused.exit_code == 0, paused.stderr
    row = await client_row(url, "ravi")
    assert row is not None and row.paused_until == datetime.combine(tomorrow, datetime.min.time(), UTC)
    not_sent = await asyncio.to_thread(checkin, "send-now", "ravi", "-c", str(config))
    assert not_sent.exit_code == 2 and "no check-in started: ravi is paused" in not_sent.stderr

    resumed = await asyncio.to_thread(checkin, "resume", "ravi", "-c", str(config))
    assert resumed.stdout.strip() == "ravi: resumed"
    again = await asyncio.to_thread(checkin, "resume", "ravi", "-c", str(config))
    assert again.stdout.strip() == "ravi: not paused (active)"
    before = await counts(url)
    sent = await asyncio.to_thread(checkin, "send-now", "ravi", "-c", str(config))
    assert sent.exit_code == 0, sent.stderr
    assert sent.stdout.strip().endswith("queued; the running bot sends it")
    after = await counts(url)
    assert after["CheckIn"] == before["CheckIn"] + 1 and after["OutboxMessage"] > before["OutboxMessage"]

    # Dana's pause ends at midnight in Paris, which is still the day before in UTC: status shows her day.
    await asyncio.to_thread(checkin, "pause", "dana", "--until", tomorrow.isoformat(), "-c", str(config))
    status = await asyncio.to_thread(checkin, "status", "-c", str(config))
    assert next(r for r in status.stdout.splitlines() if r.startswith("dana")).split()[2:5] == [
        "paused",
        "to",
        tomorrow.isoformat(),
    ]

    past = await asyncio.to_thread(checkin, "pause", "ravi", "--until", "2020-01-01", "-c", str(config))
    assert past.exit_code == 2 and "not in the future" in past.stderr
    typo = await asyncio.to_thread(checkin, "pause", "rav", "--until", tomorrow.isoformat(), "-c", str(config))
    assert typo.exit_code == 2 and "did you mean 'ravi'?" in typo.stderr


async def test_forget_asks_then_erases_everything_about_the_client(seeded: tuple[Path, str], tmp_path: Path) -> None:
    config, url = seeded
    declined = await asyncio.to_thread(checkin, "forget", "dana", "-c", str(config), stdin="n\n")
    assert declined.exit_code == 1 and "nothing erased" in declined.stdout
    assert (await counts(url))["Answer"] > 0

    erased = await asyncio.to_thread(checkin, "forget", "dana", "--yes", "-c", str(config))
    assert erased.exit_code == 0, erased.stderr
    assert erased.stdout.startswith("dana: erased 1 check-in, 8 answers, 1 alert,")
    assert "still in the config" in erased.stdout
    assert "'checkin export -o' or 'checkin trend -o' about dana are yours to delete" in erased.stdout
    left = await counts(url)
    assert (left["CheckIn"], left["Answer"], left["Alert"]) == (0, 0, 0)
    assert await _outbox_mentions(url, NOTE) == 0
    row = await client_row(url, "dana")
    assert row is not None and row.privacy_notice_sent_at is None
    assert await _identities_of(url, "dana") != []  # config still names her Slack identity

    without_dana = write_config(tmp_path / "later.yaml", url, extra_clients="")
    removed = await asyncio.to_thread(checkin, "forget", "dana", "--yes", "-c", str(without_dana))
    assert removed.exit_code == 0, removed.stderr
    assert "still in the config" not in removed.stdout
    assert await client_row(url, "dana") is None
    assert await _identities_of(url, "dana") == []


async def _identities_of(url: str, client_id: str) -> list[tuple[str, str]]:
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            query = select(Identity.platform, Identity.value).where(Identity.person_id == client_id)
            return [(platform, value) for platform, value in await session.execute(query)]
    finally:
        await database.stop()


async def _outbox_mentions(url: str, text: str) -> int:
    database = Database(url)
    await database.start()
    try:
        async with database.session() as session:
            payloads = (await session.scalars(select(OutboxMessage.payload))).all()
            return sum(text in json.dumps(p) for p in payloads)
    finally:
        await database.stop()


async def test_purge_deletes_only_what_is_older(tmp_path: Path, cli_database_url: str) -> None:
    config = write_config(tmp_path / "config.yaml", cli_database_url)
    await seed_history(config, cli_database_url, datetime.now(UTC) - timedelta(days=40))
    recent = await asyncio.to_thread(checkin, "purge", "--older-than", "60", "--yes", "-c", str(config))
    assert recent.stdout.startswith("purged 0 check-ins, 0 answers, 0 alerts"), recent.stderr
    declined = await asyncio.to_thread(checkin, "purge", "--older-than", "30", "-c", str(config), stdin="n\n")
    assert declined.exit_code == 1 and (await counts(cli_database_url))["Answer"] == 8
    purged = await asyncio.to_thread(checkin, "purge", "--older-than", "30", "--yes", "-c", str(config))
    assert purged.exit_code == 0, purged.stderr
    assert purged.stdout.startswith("purged 1 check-in, 8 answers, 1 alert,")
    left = await counts(cli_database_url)
    assert (left["CheckIn"], left["Answer"], left["Alert"], left["Client"]) == (0, 0, 0, 2)


# ---- reload -------------------------------------------------------------------------------------------


class Bot:
    """`checkin run --console` in the background, its stdout and stderr read line by line."""

    def __init__(self, config: Path, pid_file: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--console", "-c", str(config), "--pid-file", str(pid_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: io.TextIOWrapper | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.put(line)

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text: str, seconds: float = 60) -> list[str]:
        """Lines up to and including the first containing ``text``; fails after ``seconds``."""
        seen: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return seen
        raise AssertionError(f"{text!r} not seen; got:\n{''.join(seen)}")


@pytest.fixture
def bot_processes() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        if bot.process.poll() is None:
            bot.process.kill()
        bot.process.wait(timeout=30)


@pytest.mark.process
def test_reload_takes_a_valid_config_and_refuses_a_broken_one(tmp_path: Path, bot_processes: list[Bot]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    config = write_config(tmp_path / "config.yaml", url)
    pid_file = tmp_path / "bot.pid"
    bot = Bot(config, pid_file)
    bot_processes.append(bot)
    bot.wait_for("checkin-bot running")
    assert int(pid_file.read_text()) == bot.process.pid
    bot.say("eli: help")
    bot.wait_for("[to stranger eli]")

    eli = "  - {id: eli, name: Eli Stone, coach: maya, timezone: UTC, cadence: weekly, slack: {user_id: U0ELI00001}}\n"
    write_config(config, url, DANA + eli)
    reloaded = checkin("reload", "-c", str(config), "--pid-file", str(pid_file))
    assert reloaded.exit_code == 0, reloaded.stderr
    assert reloaded.stdout.strip() == f"{config}: valid; reload signalled to process {bot.process.pid}"
    bot.wait_for("config reloaded")
    bot.say("eli: help")
    bot.wait_for("[to client eli]: You can answer")

    config.write_text(config.read_text().replace("cadence: weekly", "cadence: hourly"), encoding="utf-8")
    refused = checkin("reload", "-c", str(config), "--pid-file", str(pid_file))
    assert refused.exit_code == 2
    assert "clients[0].cadence: unknown cadence 'hourly'" in refused.stderr, refused.stderr
    bot.process.send_signal(signal.SIGHUP)  # as systemd's ExecReload would, without the check in front
    bot.wait_for("config reload refused")
    bot.say("eli: help")
    bot.wait_for("[to client eli]: You can answer")

    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(timeout=30) == 0
    assert not pid_file.exists()
    gone = checkin("reload", "-c", str(write_config(config, url)), "--pid-file", str(pid_file))
    assert gone.exit_code == 69 and "is the bot running?" in gone.stderr
