"""Message texts from ``prompts/<language>/messages.yaml``, one folder per language, checked as they load.

Placeholders are checked when the files load: a misspelt ``{coach_nmae}`` fails at start-up with the file,
line and key rather than in front of a client. The texts themselves (``TextCatalog``, ``Texts``) live in
``bot.conversation.texts``, which renders them and knows nothing of files.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.yamlsource import SourceDocument, parse_mapping
from bot.conversation.languages import ENGLISH
from bot.conversation.texts import PLACEHOLDERS, TextCatalog, Texts, name_list

log = logging.getLogger(__name__)

MESSAGES_FILE: Final = "messages.yaml"

#: Texts that are comma-separated name lists rather than sentences, and how many names each holds.
_NAME_LISTS: Final[Mapping[str, int]] = {"weekday_names": 7, "month_names": 12}


def load_catalog(root: Traversable | None = None) -> TextCatalog:
    """Read ``<root>/<language>/messages.yaml`` for every language folder (``root`` defaults to ``prompts``).

    Raises ``ConfigError`` naming file and line for an unknown key, an unknown placeholder, a text that is
    not a string, or an English file that lacks a text. Missing texts of other languages are logged once.
    """
    folder = root if root is not None else resources.files("prompts")
    entries = [entry for entry in folder.iterdir() if entry.is_dir() and (entry / MESSAGES_FILE).is_file()]
    found = {entry.name.casefold(): entry / MESSAGES_FILE for entry in entries}
    sources = {entry.name.casefold(): f"{folder.name}/{entry.name}/{MESSAGES_FILE}" for entry in entries}
    if ENGLISH not in found:
        raise ConfigError([ConfigIssue(f"{folder.name}/{ENGLISH}/{MESSAGES_FILE}", None, "", "no such file")])
    issues: list[ConfigIssue] = []
    documents: dict[str, dict[str, str]] = {}
    for language, path in found.items():
        try:
            document = parse_mapping(path.read_text(encoding="utf-8"), sources[language])
        except ConfigError as exc:
            issues += exc.issues
            continue
        issues += _problems(document, complete=language == ENGLISH)
        documents[language] = {key: text for key, text in document.data.items() if isinstance(text, str)}
    if issues:
        raise ConfigError(issues)
    english = Texts(ENGLISH, documents.pop(ENGLISH))
    languages = {ENGLISH: english}
    for language, texts in documents.items():
        languages[language] = Texts(language, texts, fallback=english)
        if missing := languages[language].missing:
            log.warning(
                "%s: %d text(s) missing (%s); English is used", sources[language], len(missing), ", ".join(missing)
            )
    return TextCatalog(languages, sources)


def load_texts() -> Texts:
    """The shipped English texts: what coaches read (replay, alerts and digests in tests and benchmarks)."""
    return load_catalog().english


def _problems(document: SourceDocument, *, complete: bool) -> list[ConfigIssue]:
    issues = []
    for key, text in document.data.items():
        allowed = PLACEHOLDERS.get(key) if isinstance(key, str) else None
        if allowed is None:
            issues.append(document.issue((key,), "unknown text key"))
        elif not isinstance(text, str):
            issues.append(document.issue((key,), "must be text (put it in quotes)"))
        else:
            try:
                used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:  # a lone "{" or "}": write "{{" or "}}" for a brace
                issues.append(document.issue((key,), f"cannot read the placeholders: {exc}"))
                continue
            if unknown := used - allowed:
                issues.append(
                    document.issue(
                        (key,), f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed) or 'none'}"
                    )
                )
            count = _NAME_LISTS.get(key)
            if count is not None and len(name_list(text)) != count:
                issues.append(document.issue((key,), f"must list {count} names, separated by commas"))
    if complete:
        missing = [key for key in PLACEHOLDERS if key not in document.data]
        if missing:
            issues.append(document.issue((), f"missing texts: {', '.join(missing)}"))
    return issues
