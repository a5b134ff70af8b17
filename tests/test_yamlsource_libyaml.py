"""config.yaml parsed by libyaml reads exactly as with PyYAML's pure-Python parser: data, lines and problems.

At 10,000 clients the pure-Python parser took most of the start-up; libyaml is several times faster, and this
keeps the two interchangeable (the pure-Python one still explains syntax errors). The data is built from the
parser's events rather than PyYAML's node graph, so it is also checked against PyYAML's own composer.
"""

from __future__ import annotations

import pytest
import yaml

from bot.config import yamlsource
from bot.config.errors import ConfigError

pytestmark = pytest.mark.unit

DOCUMENTS = [
    'a: on\nb: 21:00\nc: 1.5\nd: 0o7\ne: 0x1F\nf: true\ng: ~\nh: 2026-03-01\ni: "quoted: yes"\n',
    "base: &base {every: 1d, at: '09:00'}\ncadences:\n  daily:\n    <<: *base\n    at: '10:00'\n",
    "clients:\n  - {id: c1, goals: [{id: g, title: T}]}\n  - id: c2\n    name: Two\n    tags: [x, y]\n",
    "a: 1\nb: 2\na: 3\n",
    "a: !!python/object:os.system x\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "x:\n\t- 1\n",  # a tab as indentation (a tab after the colon is valid YAML, and libyaml reads it)
    "- just\n- a list\n",
    "a: &a [*a]\nb: *a\n",
    "maps: &maps [{x: 1}, {y: 2}]\nm:\n  <<: *maps\n  z: 3\n",
    "m:\n  z: {deep: 1}\n  <<: {z: {other: 2}, w: 4}\n",
    "m: {<<: [1]}\n",
    "k: &k key\n*k : v\na: 1\na: &later 2\nb: *later\n",
    "? [a, b]\n: v\nc: 1\n",
    "a: &x 1\nb: &x 2\n",
    "a: 1\n---\nb: 2\n",
    "- 1\n---\n- 2\n",
    "a: *undefined\n",
    "a: " + "[" * 70 + "]" * 70 + "\n",
    "s: !!set {a, b}\nt: !!str 12\nu: !custom x\n",
    "",
    "# only a comment\n",
]

#: Documents PyYAML's composer and constructor read without a problem: the builder must give the same data.
CLEAN = [
    'a: on\nb: 21:00\nc: 1.5\nd: 0o7\ne: 0x1F\nf: true\ng: ~\nh: 2026-03-01\ni: "quoted: yes"\nj: ""\n',
    "base: &base {every: 1d, at: '09:00'}\ncadences:\n  daily:\n    <<: *base\n    at: '10:00'\n",
    "maps: &maps [{x: 1}, {y: 2, x: 5}]\nm:\n  <<: *maps\n  z: 3\n",
    "clients:\n  - &one {id: c1, goals: [{id: g, title: T}]}\n  - *one\n  - {id: c3, note: 'It''s \\n'}\n",
    "k: &k key\n*k : v\nlist: [&s x, *s, *s]\n",
]


def parsed(text: str) -> tuple[object, object]:
    try:
        document = yamlsource.parse_mapping(text, "config.yaml")
    except ConfigError as exc:
        return "error", [str(issue) for issue in exc.issues]
    return document.data, document.lines


@pytest.mark.parametrize("text", DOCUMENTS)
def test_libyaml_and_pure_python_read_alike(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parsed(text)
    monkeypatch.setattr(yamlsource, "_FAST_LOADER", yamlsource._Loader)
    assert fast == parsed(text)


def test_the_fast_path_is_libyaml() -> None:
    assert yaml.__with_libyaml__
    assert issubclass(yamlsource._FAST_LOADER, yaml.CSafeLoader)


@pytest.mark.parametrize("text", CLEAN)
def test_the_data_is_what_pyyaml_composes(text: str) -> None:
    assert yamlsource.parse_mapping(text, "config.yaml").data == yaml.load(text, Loader=yamlsource._Loader)


def test_lines_point_at_each_value_and_an_alias_at_its_anchor() -> None:
    text = "base: &base\n  every: 1d\nc:\n  - x\n  - *base\nm:\n  <<: *base\n  at: '10:00'\n"
    lines = yamlsource.parse_mapping(text, "config.yaml").lines
    assert lines[("c", 0)] == 4
    assert lines[("c", 1)] == 1
    assert lines[("c", 1, "every")] == 2
    assert lines[("m", "every")] == 2
    assert lines[("m", "at")] == 8


def test_nesting_past_the_limit_is_refused_as_a_whole() -> None:
    assert parsed("a: " + "[" * 600 + "]" * 600 + "\n") == ("error", ["config.yaml: the YAML is nested too deeply"])
