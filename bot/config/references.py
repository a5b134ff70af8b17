"""Checks that span sections: ids are unique, and every name a client uses exists.

They run on the raw YAML data rather than on the validated ``Config`` so that a typo in one client's
coach is reported in the same run as, say, a bad time zone in another client, which would otherwise
stop pydantic from producing a ``Config`` at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.config.errors import ConfigIssue, did_you_mean
from bot.config.yamlsource import DataPath, SourceDocument

_PLATFORMS = {"slack": "Slack", "telegram": "Telegram"}


def check_references(document: SourceDocument, builtin_sets: Iterable[str]) -> list[ConfigIssue]:
    data = document.data
    coaches = _entries(data, "coaches")
    clients = _entries(data, "clients")
    issues = _duplicates(document, ("coaches",), coaches) + _duplicates(document, ("clients",), clients)
    for index, client in clients:
        issues += _duplicates(document, ("clients", index, "goals"), _entries(client, "goals"))

    builtin = set(builtin_sets)
    admin_sets = _keys(data, "question_sets")
    issues += [
        document.issue(("question_sets", name), f"'{name}' is a built-in question set; choose another name")
        for name in admin_sets & builtin
    ]
    known = {
        "coach": {coach["id"] for _, coach in coaches if isinstance(coach.get("id"), str)},
        "cadence": _keys(data, "cadences"),
        "question_set": builtin | admin_sets,
    }
    for index, client in clients:
        for field, names in known.items():
            value = client.get(field)
            if isinstance(value, str) and value not in names:
                label = field.replace("_", " ")
                message = f"unknown {label} '{value}'{did_you_mean(value, names)}"
                issues.append(document.issue(("clients", index, field), message))

    configured = {name for name, value in (_mapping(data, "platforms")).items() if value is not None}
    for section, people in (("coaches", coaches), ("clients", clients)):
        for index, person in people:
            for platform, title in _PLATFORMS.items():
                if person.get(platform) is not None and platform not in configured:
                    message = f"uses {title}, but platforms.{platform} is not configured"
                    issues.append(document.issue((section, index, platform), message))
    return issues


def _mapping(data: dict[Any, Any], key: str) -> dict[Any, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _keys(data: dict[Any, Any], key: str) -> set[str]:
    return {name for name in _mapping(data, key) if isinstance(name, str)}


def _entries(data: dict[Any, Any], key: str) -> list[tuple[int, dict[Any, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _duplicates(
    document: SourceDocument, path: DataPath, entries: list[tuple[int, dict[Any, Any]]]
) -> list[ConfigIssue]:
    first: dict[str, DataPath] = {}
    issues = []
    for index, entry in entries:
        ident = entry.get("id")
        if not isinstance(ident, str):
            continue
        here = (*path, index, "id")
        if ident in first:
            line = document.line_of(first[ident])
            issues.append(document.issue(here, f"duplicate id '{ident}' (already used on line {line})"))
        else:
            first[ident] = here
    return issues
