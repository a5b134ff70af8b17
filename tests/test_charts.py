"""The trend chart: a real PNG at phone size, drawn for every history a client can have, never with their words."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.question_sets import load_builtin_question_sets
from bot.conversation.questions import Scale
from bot.signals.charts import render_trend
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.history import HistoryEntry, HistoryStatus
from bot.store import Database, repository
from tests.test_history_store import COACH, DANA, add_checkin
from tests.test_history_store import T0 as STORE_T0

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEFAULT = load_builtin_question_sets()["default"]
RELATIONSHIP = relationship_questions(DEFAULT)
ITEMS = ("hope", "focus", "trust", "perspective", "support")


def entry(week: int, values: tuple[int, ...] | None = None, status: HistoryStatus = "completed") -> HistoryEntry:
    scores = dict(zip(ITEMS, values, strict=True)) if values else {}
    return HistoryEntry("dana", T0 + timedelta(weeks=week), status, scores={"progress": 3, **scores})


def eight_weeks() -> list[HistoryEntry]:
    values = [(4, 4, 5, 4, 4), (4, 5, 5, 4, 5), (4, 4, 4, 4, 4), None, (3, 4, 3, 3, 4), (3, 3, 2, 3, 3), None]
    history = [entry(week, v) if v else entry(week, status="expired") for week, v in enumerate(values)]
    return [*history, entry(7, (2, 3, 2, 2, 3))]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format puts first."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_a_trend_is_a_phone_sized_png_with_something_drawn() -> None:
    png = render_trend("Dana Whitfield", eight_weeks(), question_set=DEFAULT, floor=2)
    assert png_size(png) == (1080, 720)
    assert len(png) > 30_000


def test_the_same_history_gives_the_same_bytes() -> None:
    assert render_trend("Dana", eight_weeks(), question_set=DEFAULT, floor=2) == render_trend(
        "Dana", eight_weeks(), question_set=DEFAULT, floor=2
    )


def test_alerts_and_the_floor_change_the_picture() -> None:
    plain = render_trend("Dana", eight_weeks(), question_set=DEFAULT, floor=2)
    alerted = render_trend(
        "Dana", eight_weeks(), question_set=DEFAULT, floor=2, alerts_at=[T0 + timedelta(weeks=5, hours=1)]
    )
    higher_floor = render_trend("Dana", eight_weeks(), question_set=DEFAULT, floor=3)
    assert len({plain, alerted, higher_floor}) == 3


def test_what_clients_wrote_never_reaches_the_chart() -> None:
    history = eight_weeks()
    with_words = [replace(e, texts={"note": "I'm thinking of stopping", "repair": "listen more"}) for e in history]
    assert render_trend("Dana", with_words, question_set=DEFAULT, floor=2) == render_trend(
        "Dana", history, question_set=DEFAULT, floor=2
    )


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([], id="empty"),
        pytest.param([entry(0, (4, 4, 4, 4, 4))], id="one check-in"),
        pytest.param([entry(0, status="skipped"), entry(1, status="expired")], id="all missed"),
        pytest.param([entry(0, (4, 4, 4, 4, 4)), entry(1)], id="relationship questions skipped"),
    ],
)
def test_every_history_renders(history: list[HistoryEntry]) -> None:
    png = render_trend(
        "Dana Whitfield", history, question_set=DEFAULT, floor=2, alerts_at=[T0 + timedelta(days=3)] if history else ()
    )
    assert png_size(png) == (1080, 720)
    assert len(png) > 10_000


def test_no_check_ins_is_its_own_picture() -> None:
    empty = render_trend("Dana", [], question_set=DEFAULT, floor=2)
    assert empty != render_trend("Dana", [entry(0, status="expired")], question_set=DEFAULT, floor=2)


def test_a_longer_scale_renders() -> None:
    history = [entry(0, (7, 8, 9, 6, 10)), entry(1, (3, 4, 5, 6, 7))]
    ten_points = Scale(min=1, max=10, labels={1: "Not at all", 10: "Completely"})
    longer = DEFAULT.model_copy(
        update={
            "questions": tuple(
                q.model_copy(update={"scale": ten_points}) if q.practice else q for q in DEFAULT.questions
            )
        }
    )
    assert png_size(render_trend("Dana", history, question_set=longer, floor=3)) == (1080, 720)
    assert render_trend("Dana", history, question_set=longer, floor=3) != render_trend(
        "Dana", history, question_set=DEFAULT, floor=3
    )


def test_alliance_index_is_the_mean_of_the_relationship_answers_given() -> None:
    assert alliance_index(entry(0, (4, 4, 5, 4, 3)), RELATIONSHIP) == 4.0
    partial = HistoryEntry("dana", T0, "completed", scores={"trust": 2, "hope": 4, "progress": 1})
    assert alliance_index(partial, RELATIONSHIP) == 3.0
    assert alliance_index(entry(0), RELATIONSHIP) is None


CONFIG = """
database: {{url: "sqlite+aiosqlite:///{database}"}}
platforms:
  slack: {{bot_token: "${{SLACK_BOT_TOKEN}}", app_token: "${{SLACK_APP_TOKEN}}"}}
cadences:
  weekly: {{every: 7d, at: "09:00"}}
coaches:
  - {{id: maya, name: Maya Chen, timezone: UTC, slack: {{user_id: U0MAYA0001}}}}
clients:
  - {{id: dana, name: Dana Whitfield, coach: maya, timezone: UTC, cadence: weekly, slack: {{user_id: U0DANA0001}}}}
"""


async def seed(database_path: Path) -> None:
    """Three weeks of Dana: two answered check-ins around a missed one, and an alert after the second."""
    database = Database(f"sqlite+aiosqlite:///{database_path}")
    await database.start()
    try:
        async with database.transaction() as session:
            await repository.sync_people(session, [COACH], [DANA], STORE_T0)
            await add_checkin(session, "dana", 0, "completed", {"hope": 4, "trust": 5, "note": "fine"})
            await add_checkin(session, "dana", 1, "expired")
            second = await add_checkin(session, "dana", 2, "completed", {"hope": 2, "trust": 3, "support": 2})
            await repository.create_alert(session, "dana", second, "watch", [], STORE_T0 + timedelta(weeks=2, hours=1))
    finally:
        await database.stop()


def checkin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


@pytest.mark.process
async def test_checkin_trend_writes_the_chart_and_sums_it_up(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=tmp_path / "checkin.sqlite3"), encoding="utf-8")
    await seed(tmp_path / "checkin.sqlite3")

    result = checkin("trend", "dana", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["dana-trend.png", "Dana Whitfield: 3 check-ins, latest alliance index 2.3"]
    assert png_size((tmp_path / "dana-trend.png").read_bytes()) == (1080, 720)

    chosen = tmp_path / "charts" / "d.png"
    chosen.parent.mkdir()
    again = checkin("trend", "dana", "--out", str(chosen), "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == str(chosen)
    assert chosen.read_bytes() == (tmp_path / "dana-trend.png").read_bytes()


@pytest.mark.process
def test_checkin_trend_names_the_client_it_meant(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=tmp_path / "checkin.sqlite3"), encoding="utf-8")
    result = checkin("trend", "dnaa", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "checkin trend: unknown client 'dnaa' (did you mean 'dana'?)"
    assert not list(tmp_path.glob("*.png"))
