"""config.yaml loading: every bad input is reported, all at once, at the right line."""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import (
    Config,
    ConfigError,
    MissingSecretError,
    load_config,
    referenced_variables,
    resolve_secret,
    unset_variables,
    yamlevents,
)
from bot.config.yamlsource import parse_mapping

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"

BASE = """\
platforms:
  slack: {app_token: "${SLACK_APP_TOKEN}",
    bot_token: "${SLACK_BOT_TOKEN}"}
cadences:
  weekly:
    every: 1w
    on: [mon, thu]
    at: "09:00"
coaches:
  - id: maya
    name: Maya Chen
    timezone: Europe/London
    slack: {user_id: U0MAYA0001}
clients:
  - id: dana
    name: Dana Whitfield
    coach: maya
    timezone: Europe/Paris
    cadence: weekly
    slack: {email: dana@example.com}
    goals:
      - id: delegate
        title: Delegate the quarterly planning
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder so issues name the file as ``config.yaml``, as an admin would type it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "config.yaml") -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(text))
    return [str(issue) for issue in caught.value.issues]


def test_example_validates() -> None:
    config = load_config(EXAMPLE)
    assert [coach.id for coach in config.coaches] == ["maya", "tomas"]
    assert [client.id for client in config.clients] == ["dana", "sam", "lee", "priya"]
    assert set(config.cadences) == {"weekly", "fortnightly-monday", "after-session"}
    lee, priya = config.clients_by_id["lee"], config.clients_by_id["priya"]
    assert config.cadence_of(lee).on == ("mon",)
    assert config.cadence_of(lee).quiet_hours == config.cadences["weekly"].quiet_hours
    assert [(pause.first, pause.last) for pause in lee.pauses] == [(date(2026, 12, 20), date(2027, 1, 4))]
    assert config.cadence_of(priya).after_sessions is not None
    assert priya.sessions
    slack_clients = [client for client in config.clients if client.slack is not None]
    assert {bool(client.slack and client.slack.user_id) for client in slack_clients} == {True, False}
    assert any(client.telegram is not None for client in config.clients)


@pytest.mark.usefixtures("in_tmp")
def test_base_config_loads_with_defaults() -> None:
    config = load_config(write(BASE))
    assert config.database.url == "sqlite+aiosqlite:///./checkin.sqlite3"
    assert config.alerts.low_score_floor == 2
    assert config.alerts.cooldown == timedelta(days=14)
    client = config.clients[0]
    assert (client.question_set, client.language, client.goals[0].active) == ("default", "en", True)
    assert config.coaches[0].digest == "weekly"


@pytest.mark.usefixtures("in_tmp")
def test_unknown_key_points_at_the_key_and_suggests_the_closest() -> None:
    text = BASE.replace("    timezone: Europe/Paris\n", "    timezone: Europe/Paris\n    langauge: fr\n")
    assert issues_of(text) == ["config.yaml:19 clients[0].langauge: unknown key 'langauge' (did you mean 'language'?)"]


@pytest.mark.usefixtures("in_tmp")
def test_unknown_top_level_key() -> None:
    assert issues_of("cadense: {}\n" + BASE) == [
        "config.yaml:1 cadense: unknown key 'cadense' (did you mean 'cadences'?)"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_client_naming_a_missing_coach() -> None:
    assert issues_of(BASE.replace("coach: maya", "coach: mya")) == [
        "config.yaml:17 clients[0].coach: unknown coach 'mya' (did you mean 'maya'?)"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_client_naming_a_missing_cadence_and_question_set() -> None:
    text = BASE.replace("cadence: weekly", "cadence: weekley\n    question_set: defualt")
    assert issues_of(text) == [
        "config.yaml:19 clients[0].cadence: unknown cadence 'weekley' (did you mean 'weekly'?)",
        "config.yaml:20 clients[0].question_set: unknown question set 'defualt' (did you mean 'default'?)",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_duplicate_ids() -> None:
    text = """\
        platforms:
          slack: {app_token: "${SLACK_APP_TOKEN}",
            bot_token: "${SLACK_BOT_TOKEN}"}
          telegram:
            bot_token: ${TELEGRAM_BOT_TOKEN}
        cadences:
          daily: {every: 1d, at: "09:00"}
        coaches:
          - id: maya
            name: Maya Chen
            timezone: Europe/London
            slack: {user_id: U0MAYA0001}
          - id: maya
            name: Maya Two
            timezone: UTC
            telegram: {}
        clients:
          - id: dana
            name: Dana Whitfield
            coach: maya
            timezone: Europe/Paris
            cadence: daily
            telegram: {}
            goals:
              - {id: delegate, title: Delegate}
              - {id: delegate, title: Again}
          - id: dana
            name: Dana Again
            coach: maya
            timezone: Europe/Paris
            cadence: daily
            telegram: {}
        """
    assert issues_of(text) == [
        "config.yaml:13 coaches[1].id: duplicate id 'maya' (already used on line 9)",
        "config.yaml:26 clients[0].goals[1].id: duplicate id 'delegate' (already used on line 25)",
        "config.yaml:27 clients[1].id: duplicate id 'dana' (already used on line 18)",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_literal_token_tells_the_admin_which_variable_to_use() -> None:
    issues = issues_of(BASE.replace("${SLACK_BOT_TOKEN}", "xoxb-1234-secret"))
    assert issues == [
        "config.yaml:3 platforms.slack.bot_token: secrets must not be written in the config; "
        "write ${SLACK_BOT_TOKEN} here and set the SLACK_BOT_TOKEN environment variable"
    ]
    assert "xoxb" not in issues[0]


@pytest.mark.usefixtures("in_tmp")
def test_database_url_with_a_password_is_refused() -> None:
    text = 'database:\n  url: "postgresql+asyncpg://bot:hunter2@db/checkin"\n' + BASE
    [issue] = issues_of(text)
    assert issue.startswith(
        "config.yaml:2 database.url: the URL contains a password; write url: ${CHECKIN_DATABASE_URL}"
    )
    assert "hunter2" not in issue


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        ('cron: "0 9 31 2 *"', "config.yaml:5 cadences.weekly: this cadence never fires (no slot in the four years)"),
        (
            "every: 1w\n    on: []\n    at: '09:00'\n    start: 2026-01-05",
            "config.yaml:5 cadences.weekly: this cadence never fires (no slot in the four years from 2026-01-05)",
        ),
        (
            "every: 1d\n    at: '09:00'\n    quiet_hours: {start: '08:00', end: '08:00'}",
            "config.yaml:8 cadences.weekly.quiet_hours: quiet hours need different start and end times",
        ),
    ],
)
def test_never_firing_cadence(cadence: str, expected: str) -> None:
    text = BASE.replace('every: 1w\n    on: [mon, thu]\n    at: "09:00"', cadence)
    assert issues_of(text) == [expected]


@pytest.mark.usefixtures("in_tmp")
def test_leap_day_cron_fires() -> None:
    config = load_config(write(BASE.replace('every: 1w\n    on: [mon, thu]\n    at: "09:00"', 'cron: "0 9 29 2 *"')))
    assert config.cadences["weekly"].cron == "0 9 29 2 *"


@pytest.mark.usefixtures("in_tmp")
def test_unknown_time_zone_with_suggestion() -> None:
    assert issues_of(BASE.replace("Europe/Paris", "Europe/Pariss")) == [
        "config.yaml:18 clients[0].timezone: unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?)"
    ]


def _suggested(issue: str) -> list[str]:
    """The zones an issue suggests, in order."""
    return re.findall(r"'([A-Za-z_+-]+/[A-Za-z_/+-]+)'", issue)


@pytest.mark.usefixtures("in_tmp")
def test_abbreviation_suggests_the_zones_that_use_it() -> None:
    [issue] = issues_of(BASE.replace("Europe/Paris", "AEST"))
    assert issue.startswith(
        "config.yaml:18 clients[0].timezone: unknown time zone 'AEST' (AEST is an abbreviation; "
        "did you mean 'Australia/Sydney', "
    )
    suggested = _suggested(issue)
    assert len(suggested) == 3
    assert {"Australia/Melbourne", "Australia/Brisbane"} & set(suggested[1:])
    assert "'EST'" not in issue
    for zone in suggested:  # each really is on AEST in winter or summer
        names = {datetime(2026, month, 15, 12, tzinfo=ZoneInfo(zone)).tzname() for month in (1, 7)}
        assert "AEST" in names


@pytest.mark.usefixtures("in_tmp")
def test_abbreviation_in_lower_case_for_a_coach() -> None:
    [issue] = issues_of(BASE.replace("Europe/London", "bst"))
    assert issue == (
        "config.yaml:12 coaches[0].timezone: unknown time zone 'bst' (bst is an abbreviation; "
        "did you mean 'Europe/London'?)"
    )


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("written", "what"),
    [("Germany", "a country"), ("DE", "the country code of Germany"), ("germany", "a country")],
)
def test_country_suggests_its_zones(written: str, what: str) -> None:
    [issue] = issues_of(BASE.replace("Europe/Paris", written))
    assert issue.startswith(
        f"config.yaml:18 clients[0].timezone: unknown time zone '{written}' ({written} is {what}; "
        "did you mean 'Europe/Berlin'"
    )


@pytest.mark.usefixtures("in_tmp")
def test_large_country_names_three_zones_and_the_rest_by_number() -> None:
    [issue] = issues_of(BASE.replace("Europe/London", "Australia"))
    assert issue.startswith(
        "config.yaml:12 coaches[0].timezone: unknown time zone 'Australia' (Australia is a country; "
    )
    suggested = _suggested(issue)
    assert len(suggested) == 3
    assert all(zone.startswith(("Australia/", "Antarctica/")) for zone in suggested)
    assert re.search(r" or one of [0-9]+ more\?\)$", issue)


@pytest.mark.usefixtures("in_tmp")
def test_yaml_syntax_error_has_its_line() -> None:
    assert issues_of(BASE.replace("    every: 1w\n", "    every: 1w\n   bad indent: x\n")) == [
        "config.yaml:7:4: this line is indented differently from the lines above it; "
        "line up each key with the other keys of its section (spaces, not tabs)"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_yaml_syntax_error_exact_line() -> None:
    [issue] = issues_of("coaches:\n  - id: maya\n    name: 'unterminated\n")
    assert issue == "config.yaml:3:11: this quote is never closed; add the closing ' at the end of the value"


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "coaches:\n  - id: maya\n    name: Maya: the coach\n",
            "config.yaml:3:15: a ':' appears inside a value; put the value in quotes, as in key: \"a: b\"",
        ),
        (
            "coaches:\n  - id: maya\n    name Maya\n    digest: off\n",
            "config.yaml:3:5: this line has no ':' after its key; write key: value, with a space after the ':'",
        ),
        (
            "coaches:\n  - id: maya\n\tname: Maya\n",
            "config.yaml:3:1: a tab character; YAML indents with spaces only",
        ),
        (
            'coaches:\n  - id: "maya\n    name: Maya\n',
            'config.yaml:2:9: this quote is never closed; add the closing " at the end of the value',
        ),
        (
            "coaches: [{id: maya, name: Maya}\nclients: []\n",
            "config.yaml:1:10: this '[' is never closed; add the ']' that ends the list",
        ),
        (
            "coaches:\n  - {id: maya, name: Maya\nclients: []\n",
            "config.yaml:2:5: this '{' is never closed; add the '}' that ends the mapping",
        ),
        (
            "coaches:\n  - id: maya\n  - name: Maya\n  name: x\n",
            "config.yaml:4:3: this line is indented differently from the lines above it; "
            "line up each key with the other keys of its section (spaces, not tabs)",
        ),
        (
            "cadences:\n  weekly:\n    every: 1w\n    - mon\n",
            "config.yaml:4:5: a list item ('- ') where a key was expected; "
            "give it a key, or indent it under the key it belongs to",
        ),
        (
            'coaches:\n  - id: maya\n    name: "Maya" Chen\n',
            "config.yaml:3:18: text after the closing quote; put the whole value inside the quotes",
        ),
        (
            "coaches:\n  - id: maya\n    name: @maya\n",
            "config.yaml:3:11: a value cannot start with '@'; put the value in quotes",
        ),
        (
            'coaches:\n  - id: maya\n    name: "C:\\Users"\n',
            "config.yaml:3:14: '\\U' is not an escape YAML knows between double quotes; "
            "use single quotes, or write \\\\ for a backslash",
        ),
    ],
)
def test_yaml_syntax_errors_in_plain_words(text: str, expected: str) -> None:
    assert issues_of(text) == [expected]


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize("value", ["24", "24 h", "1y", "0h", "-2h", "400d", "24H"])
def test_bad_duration(value: str) -> None:
    [issue] = issues_of(BASE.replace('at: "09:00"', f'at: "09:00"\n    remind_after: "{value}"'))
    assert issue.startswith("config.yaml:9 cadences.weekly.remind_after: ")
    assert "30m, 24h, 7d or 2w" in issue or "at most 365d" in issue


@pytest.mark.usefixtures("in_tmp")
def test_expiry_must_outlast_the_reminders() -> None:
    text = BASE.replace('at: "09:00"', 'at: "09:00"\n    remind_after: 24h\n    reminders: 3\n    expire_after: 72h')
    assert issues_of(text) == [
        "config.yaml:5 cadences.weekly: expire_after must be longer than remind_after × reminders"
    ]


def test_many_errors_are_reported_at_once_with_exact_lines(in_tmp: Path) -> None:
    text = """\
        alerts:
          low_score_floor: 9
          cooldown: soon
        cadences:
          weekly:
            every: 1w
            on: [mon, thurs]
            at: "25:00"
        coaches:
          - id: maya
            name: Maya Chen
            timezone: Europe/Londn
            slack: {user_id: U0MAYA0001}
            digest: hourly
        clients:
          - id: dana
            name: Dana Whitfield
            coach: maya
            timezone: Europe/Paris
            cadence: monthly
            slack: {email: dana@example.com}
            colour: blue
          - id: Lee
            coach: tomas
            timezone: Asia/Seoul
            cadence: weekly
            telegram: {}
        """
    assert issues_of(text) == [
        "config.yaml:2 alerts.low_score_floor: input should be less than or equal to 5",
        "config.yaml:3 alerts.cooldown: expected a duration such as 30s, 30m, 24h, 7d or 2w",
        "config.yaml:7 cadences.weekly.on[1]: input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
        'config.yaml:8 cadences.weekly.at: expected a local time "HH:MM" between "00:00" and "23:59"',
        "config.yaml:12 coaches[0].timezone: unknown time zone 'Europe/Londn' (did you mean 'Europe/London'?)",
        "config.yaml:13 coaches[0].slack: uses Slack, but platforms.slack is not configured",
        "config.yaml:14 coaches[0].digest: input should be 'weekly', 'daily' or 'off'",
        "config.yaml:20 clients[0].cadence: unknown cadence 'monthly'",
        "config.yaml:21 clients[0].slack: uses Slack, but platforms.slack is not configured",
        "config.yaml:22 clients[0].colour: unknown key 'colour'",
        "config.yaml:23 clients[1].id: must be a lowercase id: a letter, then letters, digits, '-' or '_'",
        "config.yaml:23 clients[1].name: required, but missing",
        "config.yaml:24 clients[1].coach: unknown coach 'tomas'",
        "config.yaml:27 clients[1].telegram: uses Telegram, but platforms.telegram is not configured",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_duplicate_mapping_keys_are_errors() -> None:
    text = BASE.replace("    name: Dana Whitfield\n", "    name: Dana Whitfield\n    name: Dana W\n")
    assert issues_of(text) == ["config.yaml:17 clients[0].name: duplicate key (first given on line 16)"]


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "config.yaml: the file is empty"),
        ("# only a comment\n", "config.yaml: the file is empty"),
        ("- a\n- b\n", "config.yaml:1: expected a mapping of settings (key: value), found a list"),
        ("just words\n", "config.yaml:1: expected a mapping of settings (key: value), found a single value"),
        (
            "a: *nowhere\n",
            "config.yaml:1:4: '*nowhere' refers to an anchor '&nowhere' that is not defined above it; "
            "put the value in quotes if the '*' is meant literally",
        ),
        (
            "--- {}\n--- {}\n",
            "config.yaml:2:1: a second YAML document ('---'); the file must hold one document only",
        ),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", "config.yaml:4 a.b: duplicate key (first given on line 2)"),
    ],
)
def test_unusable_files(text: str, expected: str) -> None:
    assert issues_of(text) == [expected]


def test_missing_file_and_directory(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_config(Path("nope.yaml"))
    assert [str(issue) for issue in missing.value.issues] == ["nope.yaml: no such file"]
    (in_tmp / "folder").mkdir()
    with pytest.raises(ConfigError) as folder:
        load_config(Path("folder"))
    assert [str(issue) for issue in folder.value.issues] == ["folder: is a directory, not a YAML file"]


@pytest.mark.usefixtures("in_tmp")
def test_non_utf8_file_reports_the_line() -> None:
    Path("config.yaml").write_bytes(b"coaches: []\nname: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Path("config.yaml"))
    assert [str(issue) for issue in caught.value.issues] == ["config.yaml:2: the file is not UTF-8 text"]


@pytest.mark.usefixtures("in_tmp")
def test_yaml_1_1_surprises_are_read_as_written() -> None:
    """``on``, ``off`` and an unquoted 21:00 would be True, False and 1260 under YAML 1.1 rules."""
    text = BASE.replace('at: "09:00"', "at: 9:00\n    quiet_hours: {start: 21:00, end: 07:30}")
    text = text.replace("    slack: {user_id: U0MAYA0001}\n", "    slack: {user_id: U0MAYA0001}\n    digest: off\n")
    config = load_config(write(text))
    cadence = config.cadences["weekly"]
    assert cadence.on == ("mon", "thu")
    assert cadence.at == time(9, 0)
    assert cadence.quiet_hours is not None and cadence.quiet_hours.start == time(21, 0)
    assert config.coaches[0].digest == "off"


@pytest.mark.usefixtures("in_tmp")
def test_anchors_and_merge_keys_work() -> None:
    text = BASE.replace("  weekly:\n", "  weekly: &weekly\n") + "cadences_note: x\n"
    text = text.replace("cadences_note: x\n", "")
    text = text.replace("coaches:\n", "  weekly-late:\n    <<: *weekly\n    at: '17:00'\ncoaches:\n")
    config = load_config(write(text))
    assert config.cadences["weekly-late"].at == time(17, 0)
    assert config.cadences["weekly-late"].on == ("mon", "thu")


@pytest.mark.usefixtures("in_tmp")
def test_alias_bomb_and_recursive_alias_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    assert issues_of(bomb) == ["config.yaml: the YAML expands to too many values (alias bomb?)"]
    assert issues_of("a: &a [*a]\n") == ["config.yaml:1 a[0]: an alias refers to itself"]


def test_only_values_built_by_aliases_count_towards_the_alias_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large practice writes millions of values out (100,000 clients: 2.2 million); only what aliases expand
    to is bounded, as the file's size bounds the rest."""
    monkeypatch.setattr(yamlevents, "MAX_ALIASED", 10)
    written_out = "{" + ", ".join(f"k{n}: [x, y]" for n in range(50)) + "}"
    assert parse_mapping(f"many: {written_out}\n", "config.yaml").data["many"]["k49"] == ["x", "y"]
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_mapping("a: &a [x, x, x, x, x, x]\nb: [*a, *a]\n", "config.yaml")


@pytest.mark.usefixtures("in_tmp")
def test_question_set_name_default_is_reserved() -> None:
    text = "question_sets:\n  default: ./mine.yaml\n" + BASE
    assert issues_of(text) == [
        "config.yaml:2 question_sets.default: 'default' is a built-in question set; choose another name"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_client_needs_exactly_one_platform_and_coach_needs_one() -> None:
    text = BASE.replace("    slack: {user_id: U0MAYA0001}\n", "").replace("    slack: {email: dana@example.com}\n", "")
    assert issues_of(text) == [
        "config.yaml:10 coaches[0]: a coach needs 'slack' or 'telegram' (or both) so alerts can reach them",
        "config.yaml:14 clients[0]: a client needs exactly one of 'slack' or 'telegram'",
    ]


def test_secrets_resolve_at_use_time(in_tmp: Path) -> None:
    text = BASE.replace("platforms:\n", "database:\n  url: ${CHECKIN_DATABASE_URL}\nplatforms:\n")
    config = load_config(write(text))
    assert referenced_variables(config) == ["CHECKIN_DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"]
    assert unset_variables(config, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}) == [
        "CHECKIN_DATABASE_URL"
    ]
    assert config.platforms.slack is not None
    assert resolve_secret(config.platforms.slack.bot_token, {"SLACK_BOT_TOKEN": "xoxb-1"}) == "xoxb-1"
    assert resolve_secret("sqlite+aiosqlite:///x.db", {}) == "sqlite+aiosqlite:///x.db"
    with pytest.raises(MissingSecretError, match=r"SLACK_BOT_TOKEN is not set"):
        resolve_secret(config.platforms.slack.bot_token, {"SLACK_BOT_TOKEN": ""})


def _load_or_config_error(path: Path) -> None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        issues = exc.issues
    else:
        assert isinstance(config, Config)
        return
    assert issues
    assert all("\n" not in str(issue) for issue in issues)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400))
def test_arbitrary_text_never_crashes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load_or_config_error(path)


_KEYS = st.sampled_from(
    [
        "database",
        "url",
        "platforms",
        "slack",
        "telegram",
        "bot_token",
        "alerts",
        "cadences",
        "weekly",
        "every",
        "cron",
        "on",
        "at",
        "start",
        "quiet_hours",
        "reminders",
        "coaches",
        "clients",
        "id",
        "name",
        "coach",
        "timezone",
        "cadence",
        "goals",
        "question_sets",
        "user_id",
        "email",
        "digest",
        "paused_until",
        "pauses",
        "from",
        "to",
        "sessions",
        "cadence_overrides",
        "after_sessions",
        "days",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.sampled_from(["1w", "09:00", "mon", "0 9 31 2 *", "Europe/Paris", "${X}", "2026-01-05", "maya", "7d"]),
    st.text(max_size=12),
)
_YAMLISH = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=30,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(_KEYS, _YAMLISH, max_size=6))
def test_structured_yaml_never_crashes(tmp_path: Path, data: dict[str, object]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _load_or_config_error(path)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drop=st.sets(st.integers(min_value=0, max_value=120), max_size=4), junk=st.text(max_size=6), at=st.integers(0, 120)
)
def test_mutated_example_never_crashes(tmp_path: Path, drop: set[int], junk: str, at: int) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    kept = [line for number, line in enumerate(lines) if number not in drop]
    position = min(at, len(kept))
    kept.insert(position, junk + (kept[position] if position < len(kept) else ""))
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(kept), encoding="utf-8", errors="surrogatepass")
    _load_or_config_error(path)


_AFTER_CADENCE = "    cadence: weekly\n"
_WEEKLY = '    every: 1w\n    on: [mon, thu]\n    at: "09:00"\n'


def with_client_lines(lines: str) -> str:
    """BASE with ``lines`` added to dana after her ``cadence`` (line 19), so they start on line 20."""
    return BASE.replace(_AFTER_CADENCE, _AFTER_CADENCE + lines)


@pytest.mark.usefixtures("in_tmp")
def test_overrides_replace_only_the_keys_written() -> None:
    config = load_config(write(with_client_lines("    cadence_overrides:\n      on: [tue]\n      at: '07:30'\n")))
    dana = config.clients[0]
    effective = config.cadence_of(dana)
    assert (effective.every, effective.on, effective.at) == (config.cadences["weekly"].every, ("tue",), time(7, 30))
    assert config.cadences["weekly"].on == ("mon", "thu")
    assert config.clients_by_id["dana"] is dana


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("on: []", "this cadence never fires (no slot in the four years)"),
        ("cron: '0 9 * * *'", "give exactly one of 'every', 'cron' or 'after_sessions'"),
        ("reminders: 3", "expire_after must be longer than remind_after × reminders"),
    ],
)
def test_an_override_is_checked_with_the_cadence_it_changes(override: str, problem: str) -> None:
    text = with_client_lines(f"    cadence_overrides:\n      {override}\n")
    assert issues_of(text) == [
        f"config.yaml:20 clients[0].cadence_overrides: with these overrides of cadence 'weekly': {problem}"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_override_keys_are_checked_at_their_own_lines() -> None:
    text = with_client_lines("    cadence_overrides:\n      at: '25:00'\n      reminders: 9\n      att: x\n")
    assert issues_of(text) == [
        'config.yaml:21 clients[0].cadence_overrides.at: expected a local time "HH:MM" between "00:00" and "23:59"',
        "config.yaml:22 clients[0].cadence_overrides.reminders: input should be less than or equal to 5",
        "config.yaml:23 clients[0].cadence_overrides.att: unknown key 'att' (did you mean 'at'?)",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_a_bad_override_is_reported_alongside_other_errors() -> None:
    text = with_client_lines("    cadence_overrides: {on: []}\n")
    text = text.replace("    slack: {user_id: U0MAYA0001}\n", "    slack: {user_id: U0MAYA0001}\n    digest: hourly\n")
    assert issues_of(text) == [
        "config.yaml:14 coaches[0].digest: input should be 'weekly', 'daily' or 'off'",
        "config.yaml:21 clients[0].cadence_overrides: with these overrides of cadence 'weekly': "
        "this cadence never fires (no slot in the four years)",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_overrides_of_a_broken_or_unknown_cadence_are_not_reported_twice() -> None:
    broken = with_client_lines("    cadence_overrides: {at: '07:30'}\n").replace(
        _WEEKLY, '    every: 1w\n    at: "09:00"\n'
    )
    assert issues_of(broken) == ["config.yaml:5 cadences.weekly: 'on' (the weekdays) is required with 'every: Nw'"]
    unknown = with_client_lines("    cadence_overrides: {at: '07:30'}\n").replace("cadence: weekly", "cadence: weeky")
    assert issues_of(unknown) == ["config.yaml:19 clients[0].cadence: unknown cadence 'weeky' (did you mean 'weekly'?)"]


@pytest.mark.usefixtures("in_tmp")
def test_pauses_load_as_inclusive_date_ranges() -> None:
    config = load_config(
        write(
            with_client_lines(
                "    pauses:\n      - {from: 2026-12-20, to: 2027-01-04}\n      - {from: 2027-03-01, to: 2027-03-01}\n"
            )
        )
    )
    assert [(pause.first, pause.last) for pause in config.clients[0].pauses] == [
        (date(2026, 12, 20), date(2027, 1, 4)),
        (date(2027, 3, 1), date(2027, 3, 1)),
    ]


@pytest.mark.usefixtures("in_tmp")
def test_pause_errors_have_their_lines() -> None:
    text = with_client_lines(
        "    pauses:\n"
        "      - from: 2026-12-20\n"
        "        to: 2026-12-01\n"
        "      - {form: 2026-12-20, to: 2027-01-04}\n"
        "      - {from: 2026-12-20}\n"
        "      - {from: 1999-12-20, to: 2026-01-04}\n"
    )
    assert issues_of(text) == [
        "config.yaml:21 clients[0].pauses[0]: 'to' (2026-12-01) is before 'from' (2026-12-20)",
        "config.yaml:23 clients[0].pauses[1].form: unknown key 'form' (did you mean 'from'?)",
        "config.yaml:23 clients[0].pauses[1].from: required, but missing",
        "config.yaml:24 clients[0].pauses[2].to: required, but missing",
        "config.yaml:25 clients[0].pauses[3].from: must be a date between the years 2000 and 2999",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_session_dates_and_paused_until_errors_have_their_lines() -> None:
    text = with_client_lines(
        "    sessions:\n      - 2026-11-02\n      - soon\n      - 9999-01-01\n    paused_until: 1999-12-31\n"
    )
    assert issues_of(text) == [
        "config.yaml:22 clients[0].sessions[1]: input should be a valid date or datetime, input is too short",
        "config.yaml:23 clients[0].sessions[2]: must be a date between the years 2000 and 2999",
        "config.yaml:24 clients[0].paused_until: must be a date between the years 2000 and 2999",
    ]


@pytest.mark.usefixtures("in_tmp")
def test_session_cadence_without_sessions_is_valid() -> None:
    config = load_config(write(BASE.replace(_WEEKLY, '    after_sessions: {days: 3, at: "09:00"}\n')))
    rule = config.cadences["weekly"].after_sessions
    assert rule is not None and (rule.days, rule.at) == (3, time(9, 0))
    assert config.clients[0].sessions == ()


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        (
            '    after_sessions: {days: 0, at: "9am"}\n',
            [
                "config.yaml:6 cadences.weekly.after_sessions.at: "
                'expected a local time "HH:MM" between "00:00" and "23:59"',
                "config.yaml:6 cadences.weekly.after_sessions.days: input should be greater than or equal to 1",
            ],
        ),
        ("    after_sessions: {days: 2}\n", ["config.yaml:6 cadences.weekly.after_sessions.at: required, but missing"]),
        (
            '    after_sessions: {days: 2, at: "09:00"}\n    every: 1d\n',
            ["config.yaml:5 cadences.weekly: give exactly one of 'every', 'cron' or 'after_sessions'"],
        ),
        (
            '    after_sessions: {days: 2, at: "09:00"}\n    on: [mon]\n    at: "09:00"\n',
            [
                "config.yaml:5 cadences.weekly: 'on' cannot be used with 'after_sessions'; "
                "'at' goes inside 'after_sessions', as in after_sessions: {days: 3, at: \"09:00\"}"
            ],
        ),
    ],
)
def test_session_cadence_shape_errors(cadence: str, expected: list[str]) -> None:
    assert issues_of(BASE.replace(_WEEKLY, cadence)) == expected


WEBHOOK = BASE.replace(
    "platforms:\n",
    "platforms:\n  telegram:\n    bot_token: ${TELEGRAM_BOT_TOKEN}\n"
    "    webhook:\n      url: URL\n      secret_token: SECRET\n",
)


def webhook_config(url: str, secret: str) -> str:
    return WEBHOOK.replace("URL", url).replace("SECRET", secret)


@pytest.mark.usefixtures("in_tmp")
def test_a_webhook_needs_https_and_a_secret_reference() -> None:
    good = load_config(write(webhook_config("https://bot.example.com/telegram", "${TELEGRAM_WEBHOOK_SECRET}")))
    assert good.platforms.telegram is not None
    assert good.platforms.telegram.webhook is not None
    assert good.platforms.telegram.webhook.port == 8443
    assert issues_of(webhook_config("http://bot.example.com/telegram", "${S}")) == [
        "config.yaml:5 platforms.telegram.webhook.url: telegram only posts to https URLs: expected "
        "https://your.host/telegram (http is accepted for 127.0.0.1 and localhost only)"
    ]
    assert issues_of(webhook_config("https://bot.example.com/t", "hunter2")) == [
        "config.yaml:6 platforms.telegram.webhook.secret_token: secrets must not be written in the config; "
        "write ${TELEGRAM_WEBHOOK_SECRET} here and set the TELEGRAM_WEBHOOK_SECRET environment variable"
    ]


SLACK_HEADER = '  slack: {app_token: "${SLACK_APP_TOKEN}",\n    bot_token: "${SLACK_BOT_TOKEN}"}\n'


def slack_config(settings: str) -> str:
    return BASE.replace(SLACK_HEADER, "  slack:\n    bot_token: ${SLACK_BOT_TOKEN}\n" + settings)


@pytest.mark.usefixtures("in_tmp")
def test_slack_modes_need_their_credentials() -> None:
    assert issues_of(slack_config("")) == [
        "config.yaml:2 platforms.slack: mode: socket (the default) needs app_token, the app-level token: write "
        "app_token: ${SLACK_APP_TOKEN} (an xapp- token with connections:write), or set mode: http"
    ]
    assert issues_of(slack_config("    mode: http\n")) == [
        "config.yaml:2 platforms.slack: mode: http needs signing_secret, the app's signing secret that verifies "
        "requests: write signing_secret: ${SLACK_SIGNING_SECRET}"
    ]
    assert issues_of(slack_config("    app_token: ${SLACK_APP_TOKEN}\n    http: {port: 8080}\n")) == [
        "config.yaml:5 platforms.slack.http: the http settings apply to mode: http only; remove them or set mode: http"
    ]
    assert issues_of(slack_config("    mode: http\n    signing_secret: s3cret\n")) == [
        "config.yaml:5 platforms.slack.signing_secret: secrets must not be written in the config; "
        "write ${SLACK_SIGNING_SECRET} here and set the SLACK_SIGNING_SECRET environment variable"
    ]
    assert issues_of(slack_config("    app_token: ${SLACK_APP_TOKEN}\n    api_url: slack.com/api\n")) == [
        "config.yaml:5 platforms.slack.api_url: "
        "expected an https:// (or http://) Web API base URL; Slack's own is slack.com/api/"
    ]
    assert issues_of(
        slack_config("    mode: http\n    signing_secret: ${SLACK_SIGNING_SECRET}\n    http: {path: slack}\n")
    ) == [
        "config.yaml:6 platforms.slack.http.path: expected an absolute path such as /slack/events (other than /healthz)"
    ]


@pytest.mark.usefixtures("in_tmp")
def test_slack_http_mode_and_api_url() -> None:
    socket = load_config(write(BASE)).platforms.slack
    assert socket is not None and socket.mode == "socket" and socket.api_url is None and socket.http is None
    settings = (
        "    mode: http\n    signing_secret: ${SLACK_SIGNING_SECRET}\n"
        "    api_url: https://slack-gov.com/api/\n    http: {listen: 127.0.0.1, port: 8080}\n"
    )
    http = load_config(write(slack_config(settings))).platforms.slack
    assert http is not None and http.mode == "http" and http.api_url == "https://slack-gov.com/api/"
    assert http.http is not None and (http.http.listen, http.http.port, http.http.path) == (
        "127.0.0.1",
        8080,
        "/slack/events",
    )
