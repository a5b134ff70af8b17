"""Hostile values in a config that is otherwise well formed (issue 7, part 5).

``tests/test_config.py`` fuzzes the loader with garbage text and random structures; here the structure is
right and one value is hostile: NUL and other control characters, 100,000-character names, right-to-left and
zero-width text, blank names, ids with a trailing newline. The loader either accepts the value, and then it is
one a message can show and a database can store, or reports it at its own field and line, on one visible line.
"""

from __future__ import annotations

import copy
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import ConfigError, load_config
from bot.config.yamlsource import format_path, parse_mapping
from tests.test_cli_validate import run

GOOD: dict[str, Any] = {
    "platforms": {"slack": {"bot_token": "${SLACK_BOT_TOKEN}", "app_token": "${SLACK_APP_TOKEN}"}},
    "cadences": {"weekly": {"every": "1w", "on": ["mon"], "at": "09:00"}},
    "coaches": [{"id": "maya", "name": "Maya Chen", "timezone": "Europe/London", "slack": {"user_id": "U0MAYA0001"}}],
    "clients": [
        {
            "id": "dana",
            "name": "Dana Whitfield",
            "coach": "maya",
            "timezone": "Europe/Paris",
            "cadence": "weekly",
            "slack": {"email": "dana@example.com"},
            "goals": [{"id": "delegate", "title": "Delegate the quarterly planning"}],
        }
    ],
}
#: Values shown to people in messages.
LABELS = [("coaches", 0, "name"), ("clients", 0, "name"), ("clients", 0, "goals", 0, "title")]
#: Values that must be exactly one of a few forms; whatever else is written is reported at the value.
STRICT = [
    ("clients", 0, "id"),
    ("clients", 0, "goals", 0, "id"),
    ("clients", 0, "coach"),
    ("clients", 0, "cadence"),
    ("clients", 0, "timezone"),
    ("clients", 0, "language"),
    ("clients", 0, "slack", "email"),
    ("coaches", 0, "slack", "user_id"),
    ("cadences", "weekly", "at"),
    ("cadences", "weekly", "every"),
    ("platforms", "slack", "bot_token"),
]
HOSTILE_PIECES = [
    "\x00",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "\t",
    "\n",
    "\r\n",
    "\u2028",
    "\ufeff",
    "\u200b",
    "\u200d",
    "\u202eevil\u202c",
    "\u2066",
    "עברית",
    "العربية",
    "e\u0301",
    "👩🏽‍💻",
    "<!channel>",
    "@everyone",
    "*x*",
    "${X}",
    "${",
    "'",
    '"',
    "\\",
    "#",
    ": ",
    "- ",
    "&a",
    "*a",
    "!!python/object",
    " ",
    "\u00a0",
    "dana",
    "maya",
    "weekly",
]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=4)), min_size=1, max_size=5).map("".join),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.builds(
        lambda piece, times: piece * times, st.sampled_from(["D", "é", "\u200b", "😀", "a "]), st.integers(1, 100_000)
    ),
)


def value_at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def as_read(data: dict[str, Any], path: tuple[Any, ...]) -> Any:
    """The value at ``path`` as YAML reads it back (a NEL or line separator in a value may fold to a space)."""
    return value_at(yaml.safe_load(yaml.safe_dump(data, allow_unicode=True, sort_keys=False)), path)


def with_value(path: tuple[Any, ...], value: str) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    *parents, last = path
    target: Any = data
    for key in parents:
        target = target[key]
    target[last] = value
    return data


def load(tmp_path: Path, data: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The loaded config or ``None``, and the issues reported."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        return load_config(path), []
    except ConfigError as error:
        return None, list(error.issues)


def assert_readable(issues: list[Any]) -> None:
    for issue in issues:
        text = str(issue)
        assert all(unicodedata.category(ch) != "Cc" for ch in text), text
        assert not any(ch in text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), text


def is_showable(label: str) -> bool:
    """One line of visible text of a sensible length: what a greeting or an alert can show."""
    visible = "".join(ch for ch in label if unicodedata.category(ch) != "Cf").split()
    return bool(visible) and all(unicodedata.category(ch) != "Cc" for ch in label) and len(label) <= 200


CONFIG_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@CONFIG_SETTINGS
@given(path=st.sampled_from(LABELS), value=HOSTILE)
def test_a_name_is_accepted_only_if_a_message_can_show_it(tmp_path: Path, path: tuple[Any, ...], value: str) -> None:
    data = with_value(path, value)
    config, issues = load(tmp_path, data)
    assert_readable(issues)
    written = as_read(data, path)
    if config is not None:
        assert is_showable(written)
    else:
        assert not is_showable(written)
        [issue] = issues
        assert (issue.path, issue.line is not None) == (format_path(path), True)


@CONFIG_SETTINGS
@given(path=st.sampled_from(STRICT), value=HOSTILE)
def test_a_hostile_value_is_reported_at_its_field_and_line(tmp_path: Path, path: tuple[Any, ...], value: str) -> None:
    data = with_value(path, value)
    config, issues = load(tmp_path, data)
    assert_readable(issues)
    written = as_read(data, path)
    if config is None:
        assert format_path(path) in [issue.path for issue in issues]
        assert all(issue.line is not None for issue in issues)
    elif path[-1] == "id":
        assert written.isascii() and written.isprintable() and len(written) <= 32


@CONFIG_SETTINGS
@given(key=HOSTILE)
def test_a_hostile_unknown_key_is_reported_on_one_line(tmp_path: Path, key: str) -> None:
    config, issues = load(tmp_path, {**GOOD, key: 1} if key not in GOOD else GOOD)
    assert_readable(issues)
    if key not in GOOD:
        assert config is None
        assert [issue.line is not None for issue in issues] == [True]


#: Text made mostly of what YAML reads as syntax, with every kind of line break it knows and some it does not.
YAML_SOUP = st.text(alphabet=":-\"'[]{}#&*!|>?,%@`\\ \t\n\r\x85\u2028\u2029\x0b\x0cab1", max_size=80)


@settings(max_examples=400, deadline=None)
@given(text=YAML_SOUP)
def test_any_broken_yaml_becomes_readable_issues(text: str) -> None:
    """Explaining a syntax error must never itself fail, whatever the file holds."""
    try:
        parse_mapping(text, "config.yaml")
    except ConfigError as exc:
        assert_readable(list(exc.issues))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "must contain visible text"),
        ("name", "\u00a0\u200b", "must contain visible text"),
        ("name", "Dana\x00", "must be one line without control characters (found U+0000)"),
        ("name", "Dana\nWhitfield", "must be one line without control characters (found U+000A)"),
        ("name", "D" * 100_000, "must be at most 200 characters long"),
        ("id", "dana\n", "must be a lowercase id: a letter, then letters, digits, '-' or '_'"),
        ("id", "d" * 33, "must be at most 32 characters long"),
    ],
)
def test_values_that_would_break_the_running_bot_are_refused(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    """A blank name crashed every reply (no first name to greet), a NUL broke PostgreSQL, a long goal id made
    Telegram refuse the question's buttons: each is now refused where it is written."""
    _, issues = load(tmp_path, with_value(("clients", 0, field), value))
    line = {"id": 18, "name": 19}[field]  # as yaml.safe_dump lays GOOD out
    assert [(issue.path, issue.line, issue.message) for issue in issues] == [(f"clients[0].{field}", line, message)]


def test_an_rtl_name_with_emoji_and_combining_marks_is_fine(tmp_path: Path) -> None:
    name = "דנה ויטפילד 👩🏽‍💻 Dána\u0301"
    config, issues = load(tmp_path, with_value(("clients", 0, "name"), name))
    assert issues == []
    assert config.clients[0].name == name


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xef\xbb\xbfcoaches: []\n", None),
        (b"coaches: []\r\nclients: []\r\n", None),
        (
            b"coaches:\n\t- id: maya\n",
            "config.yaml:2:1: a tab character; YAML indents with spaces only",
        ),
        (b"coaches: []\nname: a\x00b\n", "config.yaml:2: the file contains a character YAML does not allow (U+0000)"),
        (b"coaches: []\nname: \x1b[2J\n", "config.yaml:2: the file contains a character YAML does not allow (U+001B)"),
        (b"coaches: []\n\xff\xfe\n", "config.yaml:2: the file is not UTF-8 text"),
        (
            b"coaches: !!python/object:os.system []\n",
            "config.yaml:1 coaches: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        (
            b'coaches: []\n"\\x1b[31m\\u202e": 1\n',
            "config.yaml:2 ['\\x1b[31m\\u202e']: unknown key '\\x1b[31m\\u202e'",
        ),
        (
            b"a: &a {x: 1, y: 2}\nb: &b {<<: [*a, *a, *a]}\ncoaches: []\n"
            + b"".join(
                b"m%d: &m%d [%s]\n" % (i, i, b", ".join([b"*m%d" % (i - 1) if i else b"*b"] * 10)) for i in range(8)
            ),
            "config.yaml: the YAML expands to too many values (alias bomb?)",
        ),
    ],
)
def test_hostile_files_through_checkin_validate(tmp_path: Path, content: bytes, expected: str | None) -> None:
    (tmp_path / "config.yaml").write_bytes(content)
    result = run("validate", cwd=tmp_path)
    if expected is None:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == expected


def test_checkin_validate_shows_a_hostile_value_escaped(tmp_path: Path) -> None:
    data = with_value(("clients", 0, "timezone"), "Europe/Paris\x00\u202e")
    data["clients"][0]["name"] = "\x1b[2J\x00"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run("validate", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "config.yaml:19 clients[0].name: must be one line without control characters (found U+001B)",
        "config.yaml:21 clients[0].timezone: unknown time zone 'Europe/Paris\\x00\\u202e'"
        " (did you mean 'Europe/Paris'?)",
    ]
