"""``checkin`` commands run in-process through Typer's ``CliRunner``: what a process would print and exit with.

Standard output and standard error are kept apart (Click 8.2 and later always do). An exception the command
did not turn into a one-line message fails the test with its traceback, where a process would have printed
one and exited 1.
"""

from __future__ import annotations

from collections.abc import Mapping

from typer.testing import CliRunner, Result

from bot.cli.app import app


def checkin(*args: str, stdin: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``checkin ARGS`` with ``stdin`` as its input; ``env`` overrides variables (``None`` unsets one)."""
    result = CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False, prog_name="checkin")
    assert "Traceback" not in result.stderr
    return result
