"""The trend chart: a real PNG at phone size, drawn for every history a client can have, never with their words."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib.dates import date2num
from matplotlib.lines import Line2D

from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets
from bot.conversation.questions import Scale
from bot.signals.charts import render_trend, scale_meanings, trend_figure
from bot.signals.detectors.common import alliance_index, relationship_questions
from bot.signals.history import AlertMark, HistoryEntry, HistoryStatus
from bot.store import Database, alerts, people
from tests.checkin_cli import checkin
from tests.test_history_store import COACH, DANA, add_checkin
from tests.test_history_store import T0 as STORE_T0

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEFAULT = load_builtin_question_sets()["default"]
TEXTS = load_texts()
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
    png = render_trend("Dana Whitfield", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2)
    assert png_size(png) == (1080, 720)
    assert len(png) > 30_000


def test_the_same_history_gives_the_same_bytes() -> None:
    assert render_trend("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2) == render_trend(
        "Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2
    )


def test_alerts_and_the_floor_change_the_picture() -> None:
    plain = render_trend("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2)
    alerted = render_trend(
        "Dana",
        eight_weeks(),
        question_set=DEFAULT,
        texts=TEXTS,
        floor=2,
        alerts=[AlertMark(T0 + timedelta(weeks=5, hours=1), "watch")],
    )
    higher_floor = render_trend("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=3)
    assert len({plain, alerted, higher_floor}) == 3


def test_what_clients_wrote_never_reaches_the_chart() -> None:
    history = eight_weeks()
    with_words = [replace(e, texts={"note": "I'm thinking of stopping", "repair": "listen more"}) for e in history]
    assert render_trend("Dana", with_words, question_set=DEFAULT, texts=TEXTS, floor=2) == render_trend(
        "Dana", history, question_set=DEFAULT, texts=TEXTS, floor=2
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
        "Dana Whitfield",
        history,
        question_set=DEFAULT,
        texts=TEXTS,
        floor=2,
        alerts=[AlertMark(T0 + timedelta(days=3), "urgent")] if history else (),
    )
    assert png_size(png) == (1080, 720)
    assert len(png) > 10_000


def test_no_check_ins_is_its_own_picture() -> None:
    empty = render_trend("Dana", [], question_set=DEFAULT, texts=TEXTS, floor=2)
    assert empty != render_trend("Dana", [entry(0, status="expired")], question_set=DEFAULT, texts=TEXTS, floor=2)


def test_a_longer_scale_renders() -> None:
    history = [entry(0, (7, 8, 9, 6, 10)), entry(1, (3, 4, 5, 6, 7))]
    ten_points = Scale(min=1, max=10, labels={1: "Not at all", 10: "Completely"})
    longer = replace(
        DEFAULT, questions=tuple(replace(q, scale=ten_points) if q.practice else q for q in DEFAULT.questions)
    )
    assert png_size(render_trend("Dana", history, question_set=longer, texts=TEXTS, floor=3)) == (1080, 720)
    assert render_trend("Dana", history, question_set=longer, texts=TEXTS, floor=3) != render_trend(
        "Dana", history, question_set=DEFAULT, texts=TEXTS, floor=3
    )


def test_alliance_index_is_the_mean_of_the_relationship_answers_given() -> None:
    assert alliance_index(entry(0, (4, 4, 5, 4, 3)), RELATIONSHIP) == 4.0
    partial = HistoryEntry("dana", T0, "completed", scores={"trust": 2, "hope": 4, "progress": 1})
    assert alliance_index(partial, RELATIONSHIP) == 3.0
    assert alliance_index(entry(0), RELATIONSHIP) is None


def lines_by_label(history: list[HistoryEntry], **options: object) -> dict[str, Line2D]:
    figure = trend_figure("Dana", history, question_set=DEFAULT, texts=TEXTS, floor=2, **options)  # type: ignore[arg-type]
    [axes] = figure.axes
    return {str(line.get_label()): line for line in axes.get_lines() if not str(line.get_label()).startswith("_")}


def test_a_missed_check_in_is_a_gap_in_every_line_not_a_bridge() -> None:
    history = eight_weeks()  # weeks 3 and 6 missed
    lines = lines_by_label(history)
    alliance = np.ma.masked_invalid(lines["alliance"].get_ydata())
    assert list(np.ma.getmaskarray(alliance)) == [e.status != "completed" for e in history]
    assert alliance[7] == pytest.approx(2.4) and alliance[2] == pytest.approx(4.0)
    trust = np.ma.masked_invalid(lines["trust"].get_ydata())
    assert list(np.ma.getmaskarray(trust)) == [False, False, False, True, False, False, True, False]
    assert list(np.round(trust.compressed())) == [5, 5, 4, 3, 2, 2]
    assert list(lines["trust"].get_xdata()) == [date2num(e.at) for e in history]


def test_dates_and_the_scale_are_labelled_in_words() -> None:
    figure = trend_figure("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2)
    [axes] = figure.axes
    dates = [label.get_text() for label in axes.get_xticklabels()]
    assert dates == ["12 Jan", "26 Jan", "9 Feb", "23 Feb"]  # every other check-in, the latest kept
    assert [label.get_text() for label in axes.get_yticklabels()] == [
        "1 · Not at all",  # what hope, focus and perspective call their 1
        "2",
        "3",
        "4",
        "5 · Completely",  # no two questions agree on their 5: the prompts' word
    ]
    assert scale_meanings(RELATIONSHIP, TEXTS) == {1: "Not at all", 5: "Completely"}
    assert axes.get_title(loc="left") == "Dana: coaching relationship"


def test_a_question_sets_own_shared_labels_name_the_scale() -> None:
    agreed = Scale(min=1, max=7, labels={1: "Never", 4: "Sometimes", 7: "Always"})
    seven = replace(DEFAULT, questions=tuple(replace(q, scale=agreed) if q.practice else q for q in DEFAULT.questions))
    assert scale_meanings(relationship_questions(seven), TEXTS) == {1: "Never", 3: "Sometimes", 5: "Always"}


def test_urgent_and_watch_alerts_are_drawn_apart_with_a_legend() -> None:
    marks = [
        AlertMark(T0 + timedelta(weeks=5, hours=1), "watch"),
        AlertMark(T0 + timedelta(weeks=7, hours=1), "urgent"),
    ]
    figure = trend_figure("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2, alerts=marks)
    [axes] = figure.axes
    [legend] = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == [
        "hope",
        "focus",
        "trust",
        "perspective",
        "support",
        "alliance",
        "missed",
        "urgent alert",
        "watch alert",
    ]
    urgent, watch = (h for h, label in zip(legend.legend_handles, labels, strict=True) if label.endswith("alert"))
    assert (urgent.get_linestyle(), watch.get_linestyle()) == ("-", "--")
    assert urgent.get_color() != watch.get_color()
    at = {
        float(line.get_xdata()[0]): line.get_linestyle()
        for line in axes.get_lines()
        if str(line.get_label()).startswith("_")
    }
    assert at[date2num(marks[0].at)] == "--" and at[date2num(marks[1].at)] == "-"
    only_watch = trend_figure("Dana", eight_weeks(), question_set=DEFAULT, texts=TEXTS, floor=2, alerts=marks[:1])
    assert "urgent alert" not in [t.get_text() for t in only_watch.legends[0].get_texts()]


def test_a_single_check_in_is_shown_as_its_values() -> None:
    figure = trend_figure("Dana", [entry(0, (4, 4, 2, 4, 3))], question_set=DEFAULT, texts=TEXTS, floor=2)
    [axes] = figure.axes
    # The index on top, then the questions in the set's order, top to bottom.
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert labels == ["alliance", "hope", "focus", "trust", "perspective", "support"]
    assert list(axes.get_yticks()) == [5, 4, 3, 2, 1, 0]
    ends = sorted((bar.get_y(), bar.get_x() + bar.get_width()) for bar in axes.patches)
    assert [end for _, end in ends] == pytest.approx([3, 4, 2, 4, 4, 3.4])
    assert sorted(t.get_text() for t in axes.texts) == sorted(["3.4", "4", "4", "2", "4", "3", "floor 2"])
    assert axes.get_xlabel() == "5 Jan 2026"
    assert axes.get_xticklabels()[0].get_text() == "1 · Not at all"


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
            await people.sync_people(session, [COACH], [DANA], STORE_T0)
            await add_checkin(session, "dana", 0, "completed", {"hope": 4, "trust": 5, "note": "fine"})
            await add_checkin(session, "dana", 1, "expired")
            second = await add_checkin(session, "dana", 2, "completed", {"hope": 2, "trust": 3, "support": 2})
            await alerts.create_alert(session, "dana", second, "watch", [], STORE_T0 + timedelta(weeks=2, hours=1))
    finally:
        await database.stop()


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`checkin trend` writes its default file into the current folder: the test's own."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("in_tmp_path")
async def test_checkin_trend_writes_the_chart_and_sums_it_up(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=tmp_path / "checkin.sqlite3"), encoding="utf-8")
    await seed(tmp_path / "checkin.sqlite3")

    result = await asyncio.to_thread(checkin, "trend", "dana", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["dana-trend.png", "Dana Whitfield: 3 check-ins, latest alliance index 2.3"]
    assert png_size((tmp_path / "dana-trend.png").read_bytes()) == (1080, 720)

    chosen = tmp_path / "charts" / "d.png"
    chosen.parent.mkdir()
    again = await asyncio.to_thread(checkin, "trend", "dana", "--out", str(chosen), "--config", str(config))
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[0] == str(chosen)
    assert chosen.read_bytes() == (tmp_path / "dana-trend.png").read_bytes()


@pytest.mark.usefixtures("in_tmp_path")
def test_checkin_trend_names_the_client_it_meant(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(database=tmp_path / "checkin.sqlite3"), encoding="utf-8")
    result = checkin("trend", "dnaa", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr.strip() == "checkin trend: unknown client 'dnaa' (did you mean 'dana'?)"
    assert not list(tmp_path.glob("*.png"))
