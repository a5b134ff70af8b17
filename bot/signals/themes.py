"""What a client wrote about, as far as an alert's suggestion needs to know: a theme from
``prompts/suggestion_themes.yaml`` (that file explains the matching), or none.

Deliberately plain keyword matching: the ``words`` detector decides whether a text is a warning sign; this only
picks which advice fits words that are already in front of the coach, where a near miss costs little.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from bot.conversation.texts import PLACEHOLDERS
from bot.signals.signal import Signal

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


class SuggestionThemesError(ValueError):
    """``prompts/suggestion_themes.yaml`` is not shaped as documented in the file."""


@dataclass(frozen=True, slots=True)
class Themes:
    #: Theme name -> keywords (already lower-cased, every language together), in the file's order.
    keywords: Mapping[str, tuple[str, ...]]

    def pick(self, signals: Iterable[Signal], texts: Iterable[str]) -> str | None:
        """The theme a ``words`` signal names, if it has a suggestion of its own; else the first found in
        ``texts``: the detector read the words more closely than keywords do."""
        for signal in signals:
            if signal.kind == "words" and signal.theme is not None and f"suggest_theme_{signal.theme}" in PLACEHOLDERS:
                return signal.theme
        return self.find(texts)

    def find(self, texts: Iterable[str]) -> str | None:
        """The first theme (in the file's order) that any of ``texts`` speaks of."""
        read = [_words(text) for text in texts]
        for theme, keywords in self.keywords.items():
            if any(f" {keyword}" in words for keyword in keywords for words in read):
                return theme
        return None


def _words(text: str) -> str:
    """The text as " word word word" (lower case, one space apart), so a keyword is found at a word's start."""
    return "".join(f" {word}" for word in _WORD.findall(text.lower().replace("’", "'")))


def parse_themes(source: str) -> Themes:
    data = yaml.safe_load(source)
    themes = data.get("themes") if isinstance(data, dict) else None
    if not isinstance(themes, dict):
        raise SuggestionThemesError("suggestion_themes.yaml: expected a mapping with a 'themes' section")
    keywords: dict[str, tuple[str, ...]] = {}
    for name, languages in themes.items():
        if not isinstance(languages, dict) or not all(
            isinstance(words, list) and all(isinstance(w, str) and w.strip() for w in words)
            for words in languages.values()
        ):
            raise SuggestionThemesError(f"suggestion_themes.yaml: themes.{name} must list keywords per language")
        if f"suggest_theme_{name}" not in PLACEHOLDERS:
            raise SuggestionThemesError(f"suggestion_themes.yaml: themes.{name} has no text suggest_theme_{name}")
        keywords[str(name)] = tuple(_words(w).strip() for words in languages.values() for w in words)
    return Themes(keywords)


@cache
def load_themes() -> Themes:
    return parse_themes(resources.files("prompts").joinpath("suggestion_themes.yaml").read_text(encoding="utf-8"))
