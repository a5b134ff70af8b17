"""`checkin demo` through a pipe, as a script or a CI job would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_demo(stdin: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--config", str(ROOT / "config.example.yaml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_low_trust_answer_shows_the_coach_an_alert_naming_trust(tmp_path: Path) -> None:
    # Dana has two goals: progress x2, hope, focus, trust, perspective, support, repair (trust is low), note.
    result = run_demo("4\n4\n4\n4\n1\n4\n4\nListen more\nThanks\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Only your coach, Maya Chen, sees them" in out
    assert "(1/8) Since your last session, how much progress have you made on “Delegate the quarterly planning”?" in out
    assert "  1) 1 · None yet" in out
    assert "What could your coach do differently?" in out
    assert "message to coach 'maya'" in out  # the alert DM, delivered through the outbox
    assert "Check-in alert for Dana Whitfield (urgent)" in out
    # The repair now raises a words signal, whose reason quotes the client's words (so they are not quoted twice).
    assert 'The repair reads as not being heard or listened to, from the words "Listen more": "Listen more"' in out
    assert "│ [buttons: Acknowledge | Send a check-in now | Snooze alerts 7 days]" in out
    coach_view = out[out.index("Coach view") :]
    assert "Trust: 1 · Not freely" in coach_view
    assert 'Note: "Thanks"' in coach_view
    assert "Trust was answered 1" in coach_view
    assert "Traceback" not in result.stderr


def test_a_good_checkin_raises_no_alert_and_commands_work(tmp_path: Path) -> None:
    replies = "five\n3\nhelp\n4\nback\n5\n٤\n4\n4\n4\nskip\n"
    result = run_demo(replies, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "At any time you can say" in result.stdout
    assert "Going back one question." in result.stdout
    coach_view = result.stdout[result.stdout.index("Coach view") :]
    assert "Hope: 5 · Very hopeful" in coach_view
    assert "Note: (skipped)" in coach_view
    assert "No alert" in coach_view
    assert "message to coach" not in result.stdout


def test_input_ending_early_keeps_the_answers_and_says_where(tmp_path: Path) -> None:
    database = tmp_path / "kept.sqlite3"
    result = run_demo("4\n", "--db", str(database), cwd=tmp_path)
    assert result.returncode == 1
    assert f"the answers so far are stored in {database}" in result.stdout
    assert database.exists()


def test_another_client_can_be_played(tmp_path: Path) -> None:
    result = run_demo("skip all\n", "--client", "sam", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "you are Sam Okafor" in result.stdout
    assert "this check-in is skipped" in result.stdout


@pytest.mark.parametrize(("args", "message"), [(("--client", "nobody"), "unknown client 'nobody'")])
def test_bad_demo_arguments_are_explained(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_demo("", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
