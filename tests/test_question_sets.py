"""Question sets: the built-in default, an admin's own files, and their errors in validate's terms."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.config.question_sets import load_builtin_question_sets, load_question_sets
from bot.conversation.questions import RELATIONSHIP_PRACTICES

CONFIG = """\
question_sets:
  leadership: ./sets/leadership.yaml
platforms:
  telegram:
    bot_token: ${TELEGRAM_BOT_TOKEN}
cadences:
  daily: {every: 1d, at: "09:00"}
coaches:
  - {id: maya, name: Maya, timezone: UTC, telegram: {}}
clients:
  - {id: dana, name: Dana, coach: maya, timezone: UTC, cadence: daily, question_set: leadership, telegram: {}}
"""

LEADERSHIP = """\
id: leadership
name: Leadership check-in
questions:
  - id: hope
    kind: scale
    dimension: hope
    text: "How hopeful are you?"
    scale:
      labels: {1: "Not at all", 5: "Very"}
  - id: note
    kind: text
    dimension: note
    optional: true
    text: "Anything else?"
"""


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sets").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "sets" / "leadership.yaml").write_text(LEADERSHIP, encoding="utf-8")
    return Path("config.yaml")


def issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(issue) for issue in caught.value.issues]


def test_builtin_default_set_asks_every_relationship_practice() -> None:
    sets = load_builtin_question_sets()
    assert "default" in sets
    ids = {question.id for question in sets["default"].questions}
    assert set(RELATIONSHIP_PRACTICES) <= ids


def test_admin_set_is_loaded_relative_to_the_config(practice: Path) -> None:
    config = load_config(practice)
    sets = load_question_sets(config, practice)
    assert set(sets) == {"default", "leadership"}
    assert [question.id for question in sets["leadership"].questions] == ["hope", "note"]


def test_admin_set_errors_name_the_set_file_and_line(practice: Path) -> None:
    broken = LEADERSHIP.replace("    dimension: hope\n", "    dimension: hopes\n").replace(
        "optional: true", "optinal: true"
    )
    Path("sets/leadership.yaml").write_text(broken, encoding="utf-8")
    assert issues(practice) == [
        "sets/leadership.yaml:6 questions[0].dimension: input should be 'progress', 'hope', 'focus', "
        "'relationship', 'trust', 'perspective', 'note' or 'repair'",
        "sets/leadership.yaml:13 questions[1].optinal: unknown key 'optinal' (did you mean 'optional'?)",
    ]


def test_set_model_errors_point_at_the_question(practice: Path) -> None:
    broken = LEADERSHIP.replace('      labels: {1: "Not at all", 5: "Very"}', '      labels: {1: "Not at all"}')
    Path("sets/leadership.yaml").write_text(broken, encoding="utf-8")
    assert issues(practice) == [
        "sets/leadership.yaml:8 questions[0].scale: labels must name both ends of the scale; missing [5]"
    ]


def test_a_question_id_must_fit_in_a_telegram_button(practice: Path) -> None:
    long_id = LEADERSHIP.replace("  - id: note\n", "  - id: anything_else_to_say_today\n")
    Path("sets/leadership.yaml").write_text(long_id, encoding="utf-8")
    [issue] = issues(practice)
    assert issue.startswith("sets/leadership.yaml:10 questions[1].id: ")
    assert "at most 16 characters" in issue


def test_set_id_must_match_its_name(practice: Path) -> None:
    Path("sets/leadership.yaml").write_text(LEADERSHIP.replace("id: leadership", "id: leaders"), encoding="utf-8")
    assert issues(practice) == [
        "sets/leadership.yaml:1 id: the set's id 'leaders' must match its name in the config, 'leadership'"
    ]


def test_missing_set_file_is_reported_at_the_config_line(practice: Path) -> None:
    Path("sets/leadership.yaml").unlink()
    assert issues(practice) == [
        "config.yaml:2 question_sets.leadership: question set file 'sets/leadership.yaml' not found"
    ]


def test_set_file_syntax_errors_and_config_errors_come_together(practice: Path) -> None:
    Path("sets/leadership.yaml").write_text("id: leadership\nquestions: [\n", encoding="utf-8")
    practice.write_text(CONFIG.replace("timezone: UTC, cadence", "timezone: Mars/Base, cadence"), encoding="utf-8")
    assert issues(practice) == [
        "config.yaml:11 clients[0].timezone: unknown time zone 'Mars/Base'",
        "sets/leadership.yaml:2:12: this '[' is never closed; add the ']' that ends the list",
    ]


def test_unknown_question_set_suggests_a_name(practice: Path) -> None:
    practice.write_text(CONFIG.replace("question_set: leadership", "question_set: leadersip"), encoding="utf-8")
    assert issues(practice) == [
        "config.yaml:11 clients[0].question_set: unknown question set 'leadersip' (did you mean 'leadership'?)"
    ]


def test_load_question_sets_raises_for_a_broken_file(practice: Path) -> None:
    config = load_config(practice)
    Path("sets/leadership.yaml").write_text(textwrap.dedent("id: leadership\nname: x\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_question_sets(config, practice)
    assert [str(issue) for issue in caught.value.issues] == ["sets/leadership.yaml:1 questions: required, but missing"]
