"""The README's commands run as shown, and the documentation's links lead somewhere.

Convention: every line of a fenced ```sh block in README.md is one command, typed in a shell at the root of a
clone (a line ending in a backslash continues on the next). This test runs each such command, in the order the
README gives them, or names it in ``NOT_RUN`` with the reason it cannot run inside the test suite; a command
that is in neither list fails the test, so the README cannot gain a command nobody has run. Examples of output
or of files belong in other blocks (```text, ```yaml).

The commands run in a scratch directory that looks like the root of a fresh clone (copies of its top-level files,
links to its folders and its ``.venv``), so a command writing a file there (``cp config.example.yaml
config.yaml``) does not touch the clone, and a reader's own ``config.yaml`` does not change what they show.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


@dataclass(frozen=True)
class Expect:
    """What a successful run of one README command shows: text on its standard output, a file it leaves."""

    output: tuple[str, ...] = ()
    creates: str | None = None


# The README's commands this test runs, each with what it must show besides exit status 0.
RUNS: dict[str, Expect] = {
    # The scripted demo: the trust answer of 1 must reach the coach as an alert quoting the client's words.
    r"printf '4\n4\n4\n4\n1\n4\n4\nListen more\n\n' | .venv/bin/checkin demo": Expect(
        output=(
            "Coach view",
            "Check-in alert for Dana Whitfield",
            "Dana Whitfield wrote (repair), read as a warning sign: “Listen more”",
        )
    ),
    "cp config.example.yaml config.yaml": Expect(creates="config.yaml"),
    ".venv/bin/checkin validate": Expect(output=("config.yaml: OK",)),
    # Dana's next check-in, in her own time zone and in UTC.
    ".venv/bin/checkin schedule": Expect(output=("dana (Europe/Paris", " UTC")),
    ".venv/bin/checkin send-now dana": Expect(output=("dana: check-in 1 queued",)),
}

# The README's commands this test does not run, and why.
NOT_RUN: dict[str, str] = {
    "make demo": "interactive: it waits for a person to type; the scripted demo line runs the same check-in",
    "make test": "runs this test suite (and lint and mypy) itself",
    "make test-fast": "runs this test suite's fast tier itself",
    "export TELEGRAM_BOT_TOKEN=123456:ABC-DEF1234ghIkl": "sets the reader's own token in their shell; no effect to see",
    ".venv/bin/checkin run": "needs a real Telegram or Slack token and their servers; tests/test_telegram_process.py "
    "and tests/test_cli_run.py run `checkin run` against the fake servers",
    ".venv/bin/checkin invite dana": "asks the real Telegram for the bot's username; tests/test_telegram.py covers "
    "invites against the fake Telegram server",
}


def _key(command: str) -> tuple[str, ...]:
    """A command as the shell splits it, without its comment, so spacing and comments do not matter."""
    return tuple(shlex.split(command, comments=True))


def readme_commands() -> list[str]:
    """Every command in README.md's ```sh blocks, in order, comments included."""
    commands: list[str] = []
    in_block = False
    pending = ""
    for line in README.read_text(encoding="utf-8").splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            in_block = fence == "```sh" if not in_block else False
            continue
        if not in_block or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        commands.append((pending + line).strip())
        pending = ""
    return commands


def test_every_readme_command_is_run_or_excused_with_a_reason() -> None:
    shown = [_key(command) for command in readme_commands()]
    listed = {_key(command) for command in [*RUNS, *NOT_RUN]}
    unaccounted = [" ".join(key) for key in shown if key not in listed]
    assert not unaccounted, f"README commands neither run by this test nor listed in NOT_RUN: {unaccounted}"
    stale = [command for command in [*RUNS, *NOT_RUN] if _key(command) not in shown]
    assert not stale, f"listed here but no longer in the README: {stale}"


def test_every_make_target_the_readme_names_exists() -> None:
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.MULTILINE))
    named = {key[1] for key in map(_key, readme_commands()) if key[:1] == ("make",)}
    assert named, "the README names no make target"
    assert named <= targets, f"make targets named in the README but missing from the Makefile: {named - targets}"


@pytest.fixture(scope="module")
def clone_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that looks like the root of a clone: copies of its top-level files, links to its folders.

    Files are copied rather than linked, so a command writing one (a config, a database) never reaches the clone;
    the files the README's commands create are left out, as a fresh clone does not have them.
    """
    mirror = tmp_path_factory.mktemp("clone")
    created = {expect.creates for expect in RUNS.values() if expect.creates}
    for entry in ROOT.iterdir():
        if (entry.name.startswith(".") and entry.name != ".venv") or entry.name in created:
            continue
        if entry.is_dir():
            (mirror / entry.name).symlink_to(entry)
        else:
            shutil.copyfile(entry, mirror / entry.name)
    return mirror


def _fresh_shell_environment() -> dict[str, str]:
    """This process's environment without the settings a reader's fresh shell would not have."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("CHECKIN_", "SLACK_", "TELEGRAM_"))}


def _expectation(command: str) -> Expect:
    return next(expect for listed, expect in RUNS.items() if _key(listed) == _key(command))


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        cwd=cwd,
        env=_fresh_shell_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


RUN_IN_ORDER = [command for command in readme_commands() if _key(command) in {_key(listed) for listed in RUNS}]


@pytest.mark.process  # the README's commands run as processes, as a newcomer runs them
@pytest.mark.parametrize("command", RUN_IN_ORDER)
def test_readme_command_runs_as_shown(command: str, clone_root: Path) -> None:
    # A command may rely on a file an earlier one creates (validate reads the config cp wrote): make those first,
    # so each command can also run on its own (pytest -k).
    for earlier in RUN_IN_ORDER[: RUN_IN_ORDER.index(command)]:
        creates = _expectation(earlier).creates
        if creates is not None and not (clone_root / creates).exists():
            assert _run(earlier, clone_root).returncode == 0, f"{earlier} failed, so {command} cannot run"
    expect = _expectation(command)
    result = _run(command, clone_root)
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    for text in expect.output:
        assert text in result.stdout, f"{command}: {text!r} not in its output:\n{result.stdout}"
    if expect.creates is not None:
        assert (clone_root / expect.creates).is_file()


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: Path) -> set[str]:
    """The anchors GitHub gives a file's headings: lowercased, punctuation dropped, spaces as hyphens."""
    anchors: set[str] = set()
    in_code = False
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (heading := re.match(r"#{1,6}\s+(.*)", line)):
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


@pytest.mark.parametrize("markdown", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_to_files_and_headings_that_exist(markdown: Path) -> None:
    broken = []
    for target in _LINK.findall(markdown.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ... are not checked: the suite makes no network calls
        path, _, anchor = target.partition("#")
        resolved = (markdown.parent / path).resolve() if path else markdown
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{markdown.name}: {broken}"
