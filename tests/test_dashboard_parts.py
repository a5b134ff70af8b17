"""The dashboard's pure parts: its config section, the chat command, the cookie, the SVG charts, the order of
the practice page and where a result page may link back to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.coaching.commands import OpenDashboard, Unknown, parse_coach_command
from bot.coaching.dashboard_link import token_hash
from bot.coaching.status import ClientStatus, Recent
from bot.config import load_config
from bot.dashboard.access import CookieSettings, Viewer
from bot.dashboard.drawn import Drawn, DrawnRows
from bot.dashboard.pacing import Pace, Pacing
from bot.dashboard.pages import concern
from bot.dashboard.rendered import RenderedPages
from bot.dashboard.svg import Mark, Series, sparkline, trend_chart
from bot.dashboard.web import SECURITY_HEADERS, _back
from tests.test_config import BASE, issues_of, write


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- config -----------------------------------------------------------------------------------------------


def test_the_dashboard_is_off_unless_configured() -> None:
    assert load_config(write(BASE)).dashboard is None


def test_a_configured_dashboard() -> None:
    config = load_config(write("dashboard:\n  listen: '[::1]:8443'\n  public_url: https://coach.example.com/\n" + BASE))
    assert config.dashboard is not None
    assert (config.dashboard.host, config.dashboard.port) == ("::1", 8443)
    assert config.dashboard.public_url == "https://coach.example.com" and config.dashboard.secure
    plain = load_config(write("dashboard: {public_url: 'http://10.0.0.5:8080'}\n" + BASE)).dashboard
    assert plain is not None and plain.listen == "127.0.0.1:8080" and not plain.secure


def test_every_bad_dashboard_value_is_reported_at_its_line() -> None:
    text = "dashboard:\n  listen: 8080\n  public_url: coach.example.com\n  theme: dark\n" + BASE
    assert issues_of(text) == [
        "config.yaml:2 dashboard.listen: input should be a valid string",
        "config.yaml:3 dashboard.public_url: expected the address coaches open, such as https://coach.example.com",
        "config.yaml:4 dashboard.theme: unknown key 'theme'",
    ]
    assert issues_of("dashboard:\n  listen: 'localhost:99999'\n  public_url: 'https://a.example?x=1'\n" + BASE) == [
        "config.yaml:2 dashboard.listen: the port must be between 0 and 65535",
        "config.yaml:3 dashboard.public_url: expected the site's address alone, without a path, user, query or "
        "fragment, such as https://coach.example.com (the dashboard lives at /dashboard/ under it)",
    ]
    assert issues_of("dashboard: {public_url: 'https://a.example/coach'}\n" + BASE) == [
        "config.yaml:1 dashboard.public_url: expected the site's address alone, without a path, user, query or "
        "fragment, such as https://coach.example.com (the dashboard lives at /dashboard/ under it)",
    ]
    assert issues_of("dashboard:\n  listen: '127.0.0.1'\n" + BASE) == [
        "config.yaml:1 dashboard.public_url: required, but missing",
        "config.yaml:2 dashboard.listen: expected host:port to listen on, such as 127.0.0.1:8080, 0.0.0.0:8080 or "
        "[::1]:8080",
    ]


# ---- the command, the link, the cookie --------------------------------------------------------------------


def test_dashboard_is_a_coach_command_on_its_own() -> None:
    today = date(2026, 12, 3)
    assert parse_coach_command("dashboard", today) == OpenDashboard()
    assert parse_coach_command("/Dashboard", today) == OpenDashboard()
    assert parse_coach_command("dashboard please", today) == Unknown("coach_usage_dashboard")


def test_tokens_are_kept_as_sha256() -> None:
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("secure", [True, False])
def test_the_cookie_is_http_only_strict_and_secure_over_https(secure: bool) -> None:
    assert CookieSettings(secure).attributes() == {
        "path": "/dashboard",
        "httponly": True,
        "secure": secure,
        "samesite": "Strict",
        "max_age": 12 * 3600,
    }


def test_the_csrf_token_must_match_and_the_admin_is_read_only() -> None:
    coach, admin = Viewer("maya", "token-a"), Viewer(None, "token-b")
    assert coach.csrf_ok("token-a") and not coach.csrf_ok("token-b") and not coach.csrf_ok("")
    assert not coach.read_only and admin.read_only


def test_pages_forbid_scripts_frames_and_outside_resources() -> None:
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("given", "back"),
    [
        ("/dashboard/clients/dana", "/dashboard/clients/dana"),
        ("https://evil.example/dashboard/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
        ("/dashboard/..//evil.example", "/dashboard/"),
        ("", "/dashboard/"),
    ],
)
def test_a_result_page_links_back_only_within_the_dashboard(given: str, back: str) -> None:
    assert _back(given) == back


# ---- charts -----------------------------------------------------------------------------------------------


def test_a_sparkline_breaks_at_a_missed_checkin_and_escapes_its_label() -> None:
    svg = sparkline([3, 4, None, 2, 5], lowest=1, highest=5, label='Trust <b>"5"</b>')
    assert svg.count("<polyline") == 2  # 3-4, then 2-5: no slope drawn across the gap
    assert 'aria-label="Trust &lt;b&gt;&quot;5&quot;&lt;/b&gt;"' in svg
    assert '<circle cx="78.0" cy="2.0"' in svg  # the last value, 5, at the top right


def test_a_sparkline_of_nothing_is_an_empty_frame() -> None:
    svg = sparkline([None, None], lowest=1, highest=5, label="Hope")
    assert "<polyline" not in svg and "<circle" not in svg and svg.startswith("<svg")


def test_the_trend_chart_draws_each_series_and_marks_alerts() -> None:
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    days = [start + timedelta(weeks=i) for i in range(4)]
    chart = trend_chart(
        [Series("Trust", list(zip(days, [4, 3, 2, 1], strict=True))), Series("<Goal>", [(days[0], 3)])],
        [Mark(days[3], urgent=True), Mark(days[2], urgent=False)],
        lowest=1,
        highest=5,
        title="Dana & co",
    )
    assert chart.count("<polyline") == 1  # one point draws no line
    assert chart.count('class="alert-mark"') == 2 and "#c0392b" in chart and "#e67e22" in chart
    assert "&lt;Goal&gt;" in chart and 'aria-label="Dana &amp; co"' in chart
    assert "02 Nov 2026" in chart and "23 Nov 2026" in chart


# ---- the practice page's order ----------------------------------------------------------------------------


def _status(
    name: str, *, alerts: int = 0, state: str = "active", arrow: str = "→", rate: float | None = 1.0
) -> ClientStatus:
    return ClientStatus(name, name, "maya", "UTC", state, None, None, None, rate, arrow, alerts)  # type: ignore[arg-type]


def test_the_practice_is_sorted_by_concern() -> None:
    rows = [
        _status("steady"),
        _status("quiet", rate=0.3),
        _status("falling", arrow="↓"),
        _status("gone", state="unreachable"),
        _status("alerted", alerts=2),
        _status("new", rate=None, arrow="·"),
    ]
    assert [r.name for r in sorted(rows, key=concern)] == ["alerted", "gone", "falling", "quiet", "steady", "new"]


def test_drawn_rows_hold_one_version_the_newest_clients_and_forget_another_setup() -> None:
    drawn = DrawnRows(kept=2)
    row = Drawn(Recent(0.5, "↑"), {"hope": "<svg/>"})
    first, second = object(), object()
    drawn.for_setup(first)
    drawn.put("dana", (3, 7), row)
    assert drawn.get("dana", (3, 7)) == row and drawn.get("dana", (4, 8)) is None
    drawn.put("omar", None, row)
    drawn.get("dana", (3, 7))  # seen last: leo's row pushes out omar's, not dana's
    drawn.put("leo", (1, 1), row)
    assert drawn.get("omar", None) is None and drawn.get("dana", (3, 7)) == row
    drawn.for_setup(first)
    assert drawn.get("leo", (1, 1)) == row
    drawn.for_setup(second)
    assert drawn.get("leo", (1, 1)) is None


def test_a_rendered_page_is_kept_while_what_it_shows_is_equal_and_carries_each_sessions_token() -> None:
    pages = RenderedPages(kept=2)
    renders: list[str] = []

    def render(shown: str) -> Callable[[], str]:
        def rendered() -> str:
            renders.append(shown)
            return f'<p>{shown}</p><input value="{pages.placeholder}">'

        return rendered

    assert pages.page("practice", ("a",), render("a"), "one") == '<p>a</p><input value="one">'
    assert pages.page("practice", ("a",), render("a"), "two") == '<p>a</p><input value="two">'
    assert renders == ["a"]  # the second session got the kept page with its own token
    assert pages.page("practice", ("b",), render("b"), "one") == '<p>b</p><input value="one">'
    pages.page("dana", ("d",), render("d"), "one")
    pages.page("leo", ("l",), render("l"), "one")  # pushes out the practice page, seen longest ago
    pages.page("practice", ("b",), render("b"), "one")
    assert renders == ["a", "b", "d", "l", "b"]


def test_pacing_admits_a_burst_then_one_load_per_interval_per_key() -> None:
    now = [100.0]
    pacing = Pacing(Pace(burst=3, per_second=0.5), lambda: now[0], kept=2)
    assert [pacing.wait("a") for _ in range(4)] == [0, 0, 0, 2.0]
    assert pacing.wait("b") == 0  # another key, another bucket
    now[0] += 1.0
    assert pacing.wait("a") == 1.0  # half a token back: a refused load takes none
    now[0] += 1.0
    assert pacing.wait("a") == 0 and pacing.wait("a") == 2.0
    now[0] += 3600
    assert [pacing.wait("a") for _ in range(4)] == [0, 0, 0, 2.0]  # refilled to the burst, not beyond
    pacing.wait("c")  # a third key: "b", seen longest ago, is forgotten, and starts full again
    assert [pacing.wait("b") for _ in range(4)] == [0, 0, 0, 2.0]
