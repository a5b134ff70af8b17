"""`checkin demo` through a pipe, as a script or a CI job would run it (in-process, standard input piped in)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from tests.checkin_cli import checkin

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def in_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo runs where nothing of a real deployment is: an empty folder."""
    monkeypatch.chdir(tmp_path)


def run_demo(stdin: str, *args: str) -> Result:
    return checkin("demo", "--config", str(ROOT / "config.example.yaml"), *args, stdin=stdin)


def test_low_trust_answer_shows_the_coach_an_alert_naming_trust() -> None:
    # Dana has two goals: progress x2, hope, focus, trust, perspective, support, repair (trust is low), note.
    result = run_demo("4\n4\n4\n4\n1\n4\n4\nListen more\nThanks\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Your coach, Maya Chen, sees each check-in when you finish it" in out
    assert "(1/8) Since your last session, how much progress have you made on “Delegate the quarterly planning”?" in out
    assert "  1) 1 · None yet" in out
    assert "What could your coach do differently?" in out
    assert "message to coach 'maya'" in out  # the alert DM, delivered through the outbox
    assert "Check-in alert for Dana Whitfield (urgent)" in out
    assert "Dana Whitfield wrote (repair), read as a warning sign: “Listen more”" in out
    assert "│ [buttons: Acknowledge | Send a check-in now | Snooze alerts 7 days]" in out
    coach_view = out[out.index("Coach view") :]
    assert "Trust: 1 · Not freely" in coach_view
    assert 'Note: "Thanks"' in coach_view
    assert "Trust was answered 1" in coach_view
    assert "Traceback" not in result.stderr


def test_the_readme_pipeline_skips_the_note_with_an_empty_line() -> None:
    """The README's scripted demo: Enter (an empty line) leaves out the optional note, and the alert follows."""
    result = run_demo("4\n4\n4\n4\n1\n4\n4\nListen more\n\n")
    assert result.exit_code == 0, result.stdout
    assert "Input ended" not in result.stdout
    assert "Please type your answer in words" not in result.stdout
    coach_view = result.stdout[result.stdout.index("Coach view") :]
    assert "Note: (skipped)" in coach_view
    assert "Trust was answered 1" in coach_view


def test_a_good_checkin_raises_no_alert_and_commands_work() -> None:
    replies = "five\n3\nhelp\n4\nback\n5\n٤\n4\n4\n4\nskip\n"
    result = run_demo(replies)
    assert result.exit_code == 0, result.stderr
    assert "At any time you can say" in result.stdout
    assert "Going back one question." in result.stdout
    coach_view = result.stdout[result.stdout.index("Coach view") :]
    assert "Hope: 5 · Very hopeful" in coach_view
    assert "Note: (skipped)" in coach_view
    assert "No alert" in coach_view
    assert "message to coach 'maya'" in result.stdout  # the check-in itself, and no alert
    assert "Dana Whitfield answered the check-in of" in result.stdout
    assert "Check-in alert" not in result.stdout


def test_input_ending_early_keeps_the_answers_and_says_where(tmp_path: Path) -> None:
    database = tmp_path / "kept.sqlite3"
    result = run_demo("4\n", "--db", str(database))
    assert result.exit_code == 1
    assert f"the answers so far are stored in {database}" in result.stdout
    assert database.exists()


def test_input_ending_early_without_a_kept_database_names_no_file_but_how_to_keep_one() -> None:
    """Ctrl-D in the terminal: the temporary database is gone, so the message must not point at it."""
    result = run_demo("4\n")
    assert result.exit_code == 1
    ended = result.stdout[result.stdout.index("Input ended") :]
    assert "stored in" not in ended and "/checkin-demo-" not in ended
    assert "To keep the answers, run: .venv/bin/checkin demo --db demo.sqlite3" in ended


def test_another_client_can_be_played() -> None:
    result = run_demo("skip all\n", "--client", "sam")
    assert result.exit_code == 0, result.stderr
    assert "you are Sam Okafor" in result.stdout
    assert "this check-in is skipped" in result.stdout


@pytest.mark.parametrize(("args", "message"), [(("--client", "nobody"), "unknown client 'nobody'")])
def test_bad_demo_arguments_are_explained(args: tuple[str, ...], message: str) -> None:
    result = run_demo("", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
