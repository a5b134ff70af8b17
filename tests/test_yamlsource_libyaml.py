"""config.yaml composed by libyaml reads exactly as with PyYAML's pure-Python parser: data, lines and problems.

At 10,000 clients the pure-Python parser took most of the start-up; libyaml is several times faster, and this
keeps the two interchangeable (the pure-Python one still explains syntax errors).
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
