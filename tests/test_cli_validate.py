"""``checkin validate`` as an admin runs it: the command in-process, and the installed script once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import Result

from tests.checkin_cli import checkin

ROOT = Path(__file__).resolve().parent.parent
CHECKIN = Path(sys.executable).parent / "checkin"

GOOD = """\
platforms:
  slack: {app_token: "${SLACK_APP_TOKEN}",
    bot_token: "${SLACK_BOT_TOKEN}"}
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00"}
coaches:
  - {id: maya, name: Maya, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - {id: dana, name: Dana, coach: maya, timezone: Europe/Paris, cadence: weekly, slack: {email: d@example.com}}
"""

BAD = """\
platforms:
  slack:
    bot_token: xoxb-123-456
cadences:
  weekly: {every: 1w, on: [mon], at: "09:00", remind_after: 1 day}
coaches:
  - {id: maya, name: Maya, timezone: Europe/London, slack: {user_id: U0MAYA0001}}
clients:
  - {id: dana, name: Dana, coach: mya, timezone: Europe/Pariss, cadence: weekly, slack: {email: d@example.com}}
"""


def run(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """``checkin ARGS`` in folder ``cwd``, with no Slack, Telegram or checkin variables but ``env``."""
    clean: dict[str, str | None] = {
        key: None for key in os.environ if key.startswith(("SLACK_", "TELEGRAM_", "CHECKIN_"))
    }
    with contextlib.chdir(cwd):
        return checkin(*args, env={**clean, **(env or {})})


def test_good_file_prints_a_summary_and_unset_variables(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(GOOD, encoding="utf-8")
    result = run("validate", "config.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "config.yaml: OK — 1 coach, 1 client, 1 cadence, 1 question set",
        "note: not set in this environment (needed when the bot runs): SLACK_BOT_TOKEN, SLACK_APP_TOKEN",
    ]
    assert result.stderr == ""


def test_no_note_when_every_variable_is_set(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(GOOD, encoding="utf-8")
    result = run("validate", env={"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test"}, cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (0, "config.yaml: OK — 1 coach, 1 client, 1 cadence, 1 question set\n")


def test_the_example_validates(tmp_path: Path) -> None:
    result = run("validate", "--config", str(ROOT / "config.example.yaml"), cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{ROOT / 'config.example.yaml'}: OK — 2 coaches, 4 clients, 3 cadences")


def test_bad_file_lists_every_issue_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(BAD, encoding="utf-8")
    result = run("validate", "config.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "config.yaml:3 platforms.slack.bot_token: secrets must not be written in the config; "
        "write ${SLACK_BOT_TOKEN} here and set the SLACK_BOT_TOKEN environment variable",
        "config.yaml:5 cadences.weekly.remind_after: expected a duration such as 30s, 30m, 24h, 7d or 2w",
        "config.yaml:9 clients[0].coach: unknown coach 'mya' (did you mean 'maya'?)",
        "config.yaml:9 clients[0].timezone: unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?)",
    ]


def test_config_path_comes_from_option_then_environment_then_default(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(BAD, encoding="utf-8")
    assert run("validate", "--config", "good.yaml", cwd=tmp_path).exit_code == 0
    assert run("validate", env={"CHECKIN_CONFIG": "good.yaml"}, cwd=tmp_path).exit_code == 0
    assert run("validate", "-c", "config.yaml", env={"CHECKIN_CONFIG": "good.yaml"}, cwd=tmp_path).exit_code == 2
    assert run("validate", cwd=tmp_path).exit_code == 2


def test_argument_and_option_together_are_refused(tmp_path: Path) -> None:
    result = run("validate", "a.yaml", "--config", "b.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr == "checkin validate: give the file as an argument or with --config, not both\n"


@pytest.mark.process
def test_the_installed_script_and_python_dash_m_run(tmp_path: Path) -> None:
    """The one check of the entry points themselves; every other test runs the commands in-process."""
    (tmp_path / "config.yaml").write_text(GOOD, encoding="utf-8")
    for command in ([str(CHECKIN)], [sys.executable, "-m", "bot.cli"]):
        result = subprocess.run(
            [*command, "validate"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={key: value for key, value in os.environ.items() if not key.startswith("CHECKIN_")},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("config.yaml: OK")
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "config.yaml: no such file"),
        (b"", "config.yaml: the file is empty"),
        (b"\x00\xff\xfe binary \x89PNG\r\n", "config.yaml:1: the file is not UTF-8 text"),
        (b"\x00\x01\x02", "config.yaml:1: the file contains a character YAML does not allow (U+0000)"),
        (b"- 1\n- 2\n", "config.yaml:1: expected a mapping of settings (key: value), found a list"),
        (
            b"alerts: {low_score_floor: 99999999999999999999999999999999}\ncoaches: []\n",
            "config.yaml:1 alerts.low_score_floor: input should be less than or equal to 5",
        ),
        (
            b"cadences:\n  x: {every: 99999999999999999999d, at: '09:00'}\ncoaches: []\n",
            "config.yaml:2 cadences.x.every: expected an interval such as 1d, 3d, 1w or 2w",
        ),
        (
            b"cadences:\n  x: {every: 1d, at: '09:00', start: 9999-12-31}\ncoaches: []\n",
            "config.yaml:2 cadences.x.start: must be a date between the years 2000 and 2999",
        ),
        (b"coaches: [" * 3000, "config.yaml: the YAML is nested too deeply"),
    ],
)
def test_hostile_input_exits_2_without_a_traceback(tmp_path: Path, content: bytes | None, expected: str) -> None:
    if content is not None:
        (tmp_path / "config.yaml").write_bytes(content)
    result = run("validate", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [expected]


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    result = run("validate", "conf", cwd=tmp_path)
    assert (result.exit_code, result.stderr) == (2, "conf: is a directory, not a YAML file\n")
