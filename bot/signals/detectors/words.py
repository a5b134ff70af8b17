"""``words`` and ``wellbeing``: what the client wrote, read for what it says about the coaching.

Phrase lists, negation cues and targets live in ``prompts/risk_phrases.yaml`` so a coach can extend them in
their own words; that file explains the matching rules. The point of the target rule is the distinction the
coach cares about: "my boss is not listening" is a hard week at work (``wellbeing``), "you are not listening"
is about the relationship (``words``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import get_args

import yaml

from bot.conversation.questions import Practice
from bot.conversation.texts import Texts
from bot.signals.history import HistoryEntry
from bot.signals.signal import Signal

#: Text answers whose question is itself about the coach, so a phrase needs no target there.
ABOUT_THE_COACH = frozenset({"repair"})
#: At most this many characters of the client's sentence are quoted to the coach.
QUOTE_LIMIT = 240
GAP = "..."
#: Words that may stand in a "..." gap.
MAX_GAP = 3

_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'d\b"), " would"),
)
_SENTENCES = re.compile(r"[^.!?;\n]+")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

Phrase = tuple[str, ...]

_PRACTICES: dict[str, Practice] = {practice: practice for practice in get_args(Practice)}


class RiskPhrasesError(ValueError):
    """``prompts/risk_phrases.yaml`` is not shaped as documented in the file."""


@dataclass(frozen=True, slots=True)
class RiskGroup:
    name: str
    practice: Practice
    meaning: str
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True, slots=True)
class RiskPhrases:
    negations: frozenset[str]
    negation_window: int
    contrast: frozenset[str]
    targets: tuple[Phrase, ...]
    target_window: int
    groups: tuple[RiskGroup, ...]
    wellbeing: tuple[Phrase, ...]


def tokens(text: str) -> list[str]:
    """Lower-cased words with contractions spelt out, so "isn't" and "is not" read the same."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return _WORD.findall(text)


def _phrase(text: str) -> Phrase:
    parts: list[str] = []
    for chunk in text.split(GAP):
        parts += [*tokens(chunk), GAP]
    phrase = tuple(parts[:-1])
    if not phrase or phrase[0] == GAP or phrase[-1] == GAP:
        raise RiskPhrasesError(f"'{text}' is not a phrase: it needs words, and '...' only between them")
    return phrase


def _strings(data: Mapping[str, object], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RiskPhrasesError(f"risk_phrases.yaml: '{key}' must be a list of texts")
    return list(value)


def _integer(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 20:
        raise RiskPhrasesError(f"risk_phrases.yaml: '{key}' must be a whole number from 0 to 20")
    return value


def parse_risk_phrases(source: str) -> RiskPhrases:
    data = yaml.safe_load(source)
    if not isinstance(data, dict) or not isinstance(data.get("relationship"), dict):
        raise RiskPhrasesError("risk_phrases.yaml: expected a mapping with a 'relationship' section")
    groups: list[RiskGroup] = []
    for name, group in data["relationship"].items():
        if not isinstance(group, dict):
            raise RiskPhrasesError(f"risk_phrases.yaml: relationship.{name} must be a mapping")
        practice, meaning = _PRACTICES.get(str(group.get("practice"))), group.get("meaning")
        if practice is None or not isinstance(meaning, str):
            raise RiskPhrasesError(f"risk_phrases.yaml: relationship.{name} needs a practice and a meaning")
        phrases = tuple(_phrase(p) for p in _strings(group, "phrases"))
        groups.append(RiskGroup(str(name), practice, meaning, phrases))
    return RiskPhrases(
        negations=frozenset(_strings(data, "negations")),
        negation_window=_integer(data, "negation_window"),
        contrast=frozenset(_strings(data, "contrast")),
        targets=tuple(_phrase(t) for t in _strings(data, "targets")),
        target_window=_integer(data, "target_window"),
        groups=tuple(groups),
        wellbeing=tuple(_phrase(p) for p in _strings(data, "wellbeing")),
    )


@cache
def load_risk_phrases() -> RiskPhrases:
    return parse_risk_phrases(resources.files("prompts").joinpath("risk_phrases.yaml").read_text(encoding="utf-8"))


def _matches(words: Sequence[str], phrase: Phrase) -> list[tuple[int, int]]:
    """Every (start, end) span of ``phrase`` in ``words``, "..." standing for up to ``MAX_GAP`` words."""
    spans: list[tuple[int, int]] = []

    def extend(position: int, part: int, start: int) -> None:
        if part == len(phrase):
            spans.append((start, position))
            return
        if phrase[part] == GAP:
            for skip in range(MAX_GAP + 1):
                if position + skip < len(words) and words[position + skip] == phrase[part + 1]:
                    extend(position + skip + 1, part + 2, start)
            return
        if position < len(words) and words[position] == phrase[part]:
            extend(position + 1, part + 1, start)

    for start, word in enumerate(words):
        if word == phrase[0]:
            extend(start + 1, 1, start)
    return spans


def _clauses(sentence: str, contrast: frozenset[str]) -> list[list[str]]:
    clauses: list[list[str]] = [[]]
    for word in tokens(sentence):
        if word in contrast:
            clauses.append([])
        else:
            clauses[-1].append(word)
    return [clause for clause in clauses if clause]


def _found(clause: Sequence[str], phrase: Phrase, phrases: RiskPhrases, *, near: Sequence[Phrase] | None) -> bool:
    """``phrase`` stands un-negated in ``clause`` (and, when ``near`` is given, one of those is close by)."""
    for start, end in _matches(clause, phrase):
        if any(w in phrases.negations for w in clause[max(start - phrases.negation_window, 0) : start]):
            continue
        if near is None:
            return True
        window = clause[max(start - phrases.target_window, 0) : end + phrases.target_window]
        if any(_matches(window, target) for target in near):
            return True
    return False


def detect_words(entry: HistoryEntry, texts: Texts, phrases: RiskPhrases) -> list[Signal]:
    """At most one ``words`` signal per relationship group and one ``wellbeing`` signal per check-in."""
    signals: list[Signal] = []
    seen: set[str] = set()
    wellbeing: Signal | None = None
    for question_id, text in entry.texts.items():
        targets = None if question_id in ABOUT_THE_COACH else phrases.targets
        for match in _SENTENCES.finditer(text):
            sentence = match.group().strip()
            quote = sentence[:QUOTE_LIMIT]
            for clause in _clauses(sentence, phrases.contrast):
                for group in phrases.groups:
                    if group.name in seen or not any(_found(clause, p, phrases, near=targets) for p in group.phrases):
                        continue
                    seen.add(group.name)
                    reason = texts.render("reason_words", question=question_id, meaning=group.meaning, text=quote)
                    signals.append(Signal("words", group.practice, reason, question_id, None, words=quote))
                if wellbeing is None and any(_found(clause, p, phrases, near=None) for p in phrases.wellbeing):
                    reason = texts.render("reason_wellbeing", question=question_id, text=quote)
                    wellbeing = Signal("wellbeing", "relationship", reason, question_id, None, words=quote)
    return signals + ([wellbeing] if wellbeing is not None else [])
