"""`checkin replay`: history lines in, alert lines out, bad lines reported and skipped.

Run through the replay function for the details and through the `checkin replay` command (in-process) for
what a coach sees in a terminal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from bot.config import load_config
from bot.config.alerts import Alerts
from bot.config.message_files import load_texts
from bot.config.question_sets import load_builtin_question_sets, load_question_sets
from bot.signals.replay import LineProblem, ReplaySetup, replay
from tests.checkin_cli import checkin

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
ITEMS = ("hope", "focus", "trust", "perspective", "support")
LOW = "Trust was answered {} (at or below 2 on a 1–5 scale)."
DEFAULTS = ReplaySetup(Alerts(), load_builtin_question_sets(), {}, load_texts())

CONFIG = """
platforms:
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
alerts:
  low_score_floor: 3
  cooldown: 14d
cadences:
  weekly: {every: 1w, on: [tue], at: "09:00"}
coaches:
  - {id: maya, name: Maya Chen, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - {id: dana, name: Dana Whitfield, coach: maya, timezone: Europe/Paris, cadence: weekly,
     slack: {user_id: U0DANA0001}}
"""


def line(client: str, week: int, status: str = "completed", **answers: object) -> str:
    at = (T0 + timedelta(weeks=week)).isoformat()
    return json.dumps({"client": client, "at": at, "status": status, "answers": answers})


def items(value: int, **overrides: int) -> dict[str, int]:
    return {item: overrides.get(item, value) for item in ITEMS}


def steady(client: str, weeks: int, value: int = 4) -> list[str]:
    return [line(client, n, **items(value)) for n in range(weeks)]


def test_alerts_in_time_order_with_the_given_at() -> None:
    lines = [line("dana", 2, **items(4, trust=2)), *steady("dana", 2), line("lee", 1, trust=1)]
    result = replay(lines, DEFAULTS)
    assert result.problems == []
    assert result.alerts == [
        {
            "client": "lee",
            "at": "2026-03-10T09:00:00+00:00",
            "severity": "urgent",
            "signals": [
                {
                    "kind": "low_score",
                    "practice": "trust",
                    "reason": "Trust was answered 1 (at or below 2 on a 1–5 scale).",
                }
            ],
        },
        {
            "client": "dana",
            "at": "2026-03-17T09:00:00+00:00",
            "severity": "watch",
            "signals": [
                {
                    "kind": "low_score",
                    "practice": "trust",
                    "reason": "Trust was answered 2 (at or below 2 on a 1–5 scale).",
                }
            ],
        },
    ]


def test_cooldown_applies_per_client_across_the_file() -> None:
    lines = [line("dana", n, **items(4, trust=2)) for n in range(3)]
    lines += [line("sam", 0, **items(4, trust=2))]
    alerts = replay(lines, DEFAULTS).alerts
    assert [(a["client"], a["at"]) for a in alerts] == [
        ("dana", "2026-03-03T09:00:00+00:00"),
        ("sam", "2026-03-03T09:00:00+00:00"),
        ("dana", "2026-03-17T09:00:00+00:00"),  # fourteen days later the cooldown is over
    ]


def test_expired_streak_and_per_goal_progress() -> None:
    lines = steady("dana", 4) + [line("dana", 4 + n, status="expired") for n in range(3)]
    lines.append(line("lee", 0, progress={"delegate": 4, "board": 3}))
    result = replay(lines, DEFAULTS)
    assert result.problems == []
    assert [(a["client"], [s["kind"] for s in a["signals"]]) for a in result.alerts] == [("dana", ["withdrawal"])]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"at": "2026-03-03T09:00:00+00:00", "status": "completed"}', "'client' must be a non-empty string"),
        ('{"client": "dana", "at": "2026-03-03T09:00:00+00:00", "status": "done"}', "'status' must be one of"),
        ('{"client": "dana", "status": "completed"}', "'at' is required"),
        ('{"client": "dana", "at": "2026-03-03T09:00:00", "status": "completed"}', "needs a UTC offset"),
        ('{"client": "dana", "at": "yesterday", "status": "completed"}', "'at' must be an ISO 8601 time"),
        ('{"client": "dana", "at": "2026-03-03T09:00:00Z", "status": "completed", "mood": 1}', "unknown key(s) mood"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": []}', "'answers' must be an"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": {"joy": 4}}', "answer 'joy'"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": {"trust": 9}}', "on its scale"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": {"trust": "4"}}', "a number"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": {"trust": true}}', "a number"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "completed", "answers": {"note": 4}}', "must be text"),
        ('{"client": "d", "at": "2026-03-03T09:00Z", "status": "expired", "sent_at": 5}', "'sent_at' must be"),
    ],
)
def test_malformed_lines_are_reported_and_skipped(bad: str, message: str) -> None:
    result = replay([line("dana", 0, trust=1), bad, "", line("dana", 1, trust=4)], DEFAULTS)
    assert len(result.problems) == 1
    assert result.problems[0].line == 2 and message in result.problems[0].message
    assert [a["at"] for a in result.alerts] == ["2026-03-03T09:00:00+00:00"]  # the good lines still count


def test_bytes_that_are_not_utf8() -> None:
    result = replay([b"\xff\xfe{}\n", line("dana", 0).encode()], DEFAULTS)
    assert result.problems == [LineProblem(1, "not UTF-8 text")]


def test_config_thresholds_and_names(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    setup = ReplaySetup.from_config(config, load_question_sets(config, path), load_texts())
    assert setup.name("dana") == "Dana Whitfield" and setup.name("stranger") == "stranger"
    alerts = replay([line("dana", 0, trust=3), line("stranger", 0, trust=3)], setup).alerts
    assert [a["client"] for a in alerts] == ["dana", "stranger"]  # floor 3 from the config, for everyone


def run_cli(*args: str) -> Result:
    """``checkin replay ARGS`` in the current folder, with no ``$CHECKIN_CONFIG``."""
    return checkin("replay", *args, env={"CHECKIN_CONFIG": None})


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command runs in the test's own folder, where ./config.yaml would be found."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("in_tmp_path")
def test_cli_prints_only_json_and_reports_bad_lines(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join([line("dana", 0, trust=2), "oops", '{"client": 3}']) + "\n", encoding="utf-8")
    done = run_cli(str(history))
    assert done.exit_code == 1
    (alert,) = [json.loads(out) for out in done.stdout.splitlines()]
    assert alert["client"] == "dana" and alert["severity"] == "watch"
    assert done.stderr.splitlines() == [
        f"{history}:2: not valid JSON (Expecting value at column 1); line skipped",
        f"{history}:3: 'client' must be a non-empty string; line skipped",
    ]


@pytest.mark.usefixtures("in_tmp_path")
def test_cli_clean_file_exits_zero_and_honours_config(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(line("dana", 0, trust=3) + "\n", encoding="utf-8")
    done = run_cli(str(history))  # no config anywhere: the defaults, floor 2
    assert (done.exit_code, done.stdout, done.stderr) == (0, "", "")
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    done = run_cli(str(history))  # ./config.yaml is found on its own
    assert done.exit_code == 0 and json.loads(done.stdout)["client"] == "dana" and done.stderr == ""


@pytest.mark.usefixtures("in_tmp_path")
def test_cli_missing_file_or_config_is_one_line(tmp_path: Path) -> None:
    done = run_cli(str(tmp_path / "nope.jsonl"))
    assert done.exit_code == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"checkin replay: {tmp_path / 'nope.jsonl'}: No such file")
    history = tmp_path / "history.jsonl"
    history.write_text("", encoding="utf-8")
    done = run_cli(str(history), "--config", str(tmp_path / "missing.yaml"))
    assert done.exit_code == 2 and "Traceback" not in done.stderr
