"""Free text as the ``words`` detector reads it: sentences of normalised tokens, and cue patterns matched on them.

Normalising (lower case, folded umlauts, contractions spelt out) lets a cue be written once; the tokens keep
their place in the original text so the alert can quote the client's own words, and whether they were written
with a capital, because in German only a capitalised "Sie" addresses the coach. Matching tolerates one typo in
longer words, since notes are typed on phones between meetings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: "..." in a cue lets up to this many words stand in between.
MAX_GAP = 4
GAP = "..."
#: Words this long may carry one missing, added or swapped letter; from ``SUBSTITUTE_FROM``, one wrong letter.
#: Only words of letters: "checking" is not a typo of "check-in"; and none longer than ``TYPO_UP_TO``, so a
#: 40,000-letter "word" costs no more than a short one.
TYPO_UP_TO = 30
TYPO_FROM = 5
SUBSTITUTE_FROM = 8

_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "Ä": "A", "Ö": "O", "Ü": "U", "\u2019": "'", "\u2018": "'"})
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
_SENTENCE = re.compile(r"[^.!?;\n]+")
_CONTRACTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("can't", ("can", "not")),
    ("won't", ("will", "not")),
    ("shan't", ("shall", "not")),
)
_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("n't", ("not",)),
    ("'m", ("am",)),
    ("'re", ("are",)),
    ("'ve", ("have",)),
    ("'ll", ("will",)),
    ("'d", ("would",)),
    ("'s", ()),
)


@dataclass(frozen=True, slots=True)
class Token:
    word: str
    capital: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Alternative:
    text: str
    stem: bool
    capital: bool

    @property
    def key(self) -> str:
        return self.text + "*" if self.stem else self.text


#: One position of a pattern: the words accepted there, or ``GAP``.
Part = tuple[Alternative, ...] | str
Pattern = tuple[Part, ...]


class PatternError(ValueError):
    """A cue is not a pattern: it needs words, and "..." only between them."""


def fold(text: str) -> str:
    return text.translate(_FOLD).replace("ß", "ss")


def parse_pattern(text: str) -> Pattern:
    """``"not ... listen*|hear*"`` as a pattern; written in the form the tokens take (lower case, folded)."""
    parts: list[Part] = []
    for chunk in text.split():
        if chunk == GAP:
            parts.append(GAP)
            continue
        alternatives = []
        for option in chunk.split("|"):
            stem = option.endswith("*")
            word = fold(option.rstrip("*"))
            if not _WORD.fullmatch(word):
                raise PatternError(f"'{text}': '{option}' is not a word")
            alternatives.append(Alternative(word.lower(), stem, word[0].isupper()))
        parts.append(tuple(alternatives))
    if not parts or parts[0] == GAP or parts[-1] == GAP:
        raise PatternError(f"'{text}' is not a cue: it needs words, and '...' only between them")
    return tuple(parts)


def tokens(text: str, rewrite: Mapping[str, tuple[str, ...]]) -> list[Token]:
    """The words of ``text`` with contractions and ``rewrite`` spellings spelt out, each with its place."""
    found: list[Token] = []
    for match in _WORD.finditer(text):
        raw = fold(match.group())
        capital = raw[0].isupper()
        for word in _spelt_out(raw.lower(), rewrite):
            found.append(Token(word, capital, match.start(), match.end()))
    return found


def _spelt_out(word: str, rewrite: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    for contraction, words in _CONTRACTIONS:
        if word == contraction:
            return words
    for suffix, words in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            return (word[: -len(suffix)], *words)
    return rewrite.get(word, (word,))


def sentences(text: str) -> Iterable[tuple[int, int]]:
    """The (start, end) of each sentence in ``text``: cut at . ! ? ; and new lines."""
    for match in _SENTENCE.finditer(text):
        if match.group().strip():
            yield match.start(), match.end()


@dataclass(slots=True)
class Matcher:
    """Which pattern words each token stands for, typos included; built once per lexicon, cached per word."""

    words: frozenset[str]
    stems: frozenset[str]
    _longest_stem: int = field(init=False)
    _deleted_words: dict[str, set[str]] = field(init=False)
    _deleted_stems: dict[str, set[str]] = field(init=False)
    _cache: dict[str, frozenset[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._longest_stem = max((len(s) for s in self.stems), default=0)
        self._deleted_words = _deletions_index(w for w in self.words if len(w) >= TYPO_FROM and w.isalpha())
        # A stem's last letter is not dropped: "drea" would make every "dream" read as "dread*".
        self._deleted_stems = _deletions_index(
            (s for s in self.stems if len(s) >= TYPO_FROM and s.isalpha()), keep_last=True
        )

    def keys(self, word: str) -> frozenset[str]:
        """The pattern words (``word`` or ``stem*``) that ``word`` matches."""
        known = self._cache.get(word)
        if known is None:
            known = frozenset(self._keys(word))
            if len(self._cache) < 50_000:
                self._cache[word] = known
        return known

    def _keys(self, word: str) -> set[str]:
        keys = {word} if word in self.words else set()
        reach = min(len(word), self._longest_stem + 1)
        keys |= {word[:n] + "*" for n in range(1, reach + 1) if word[:n] in self.stems}
        if not TYPO_FROM <= len(word) <= TYPO_UP_TO or not word.isalpha():
            return keys
        variants = _typo_variants(word)
        keys |= {v for v in variants if v in self.words}
        keys |= self._deleted_words.get(word, set())
        if len(word) >= SUBSTITUTE_FROM:
            for d in _deletions(word):
                keys |= self._deleted_words.get(d, set())
        for n in range(TYPO_FROM - 1, reach + 1):
            prefix = word[:n]
            keys |= {s + "*" for s in self._deleted_stems.get(prefix, set())}
            keys |= {v + "*" for v in _typo_variants(prefix) if v in self.stems and len(v) >= TYPO_FROM}
        return keys


def _deletions(word: str) -> set[str]:
    """``word`` with one letter dropped; never the first, which people rarely get wrong ("presentation" is no
    typo of "resent")."""
    return {word[:i] + word[i + 1 :] for i in range(1, len(word))}


def _typo_variants(word: str) -> set[str]:
    """``word`` with one letter dropped or two neighbours swapped back."""
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(1, len(word) - 1)}
    return (_deletions(word) | swaps) - {word}


def _deletions_index(words: Iterable[str], *, keep_last: bool = False) -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for word in words:
        for i in range(1, len(word) - 1 if keep_last else len(word)):
            index.setdefault(word[:i] + word[i + 1 :], set()).add(word)
    return index


class CueSet:
    """Labelled patterns, indexed by the words they start with so a note is scanned once, not once per cue.

    A pattern is tried only where each of its words occurs somewhere in the sentence, which rules out most
    of them before any matching.
    """

    __slots__ = ("_by_first",)

    def __init__(self, cues: Iterable[tuple[str, Pattern]]) -> None:
        self._by_first: dict[str, list[tuple[str, Pattern, tuple[frozenset[str], ...]]]] = {}
        for label, pattern in cues:
            first = pattern[0]
            assert not isinstance(first, str)
            needs = tuple(frozenset(a.key for a in part) for part in pattern[1:] if not isinstance(part, str))
            for alternative in first:
                self._by_first.setdefault(alternative.key, []).append((label, pattern, needs))

    def scan(self, keys: Sequence[frozenset[str]], words: Sequence[Token], lo: int, hi: int) -> list[Hit]:
        """Every labelled span within ``words[lo:hi]``, in order of where it starts."""
        present: set[str] = set().union(*keys[lo:hi])
        hits: list[Hit] = []
        for start in range(lo, hi):
            for key in keys[start]:
                for label, pattern, needs in self._by_first.get(key, ()):
                    if all(not need.isdisjoint(present) for need in needs):
                        hits += [Hit(label, start, end) for end in _ends(keys, words, pattern, start, hi)]
        return hits


@dataclass(frozen=True, slots=True)
class Hit:
    label: str
    start: int
    end: int


def _ends(keys: Sequence[frozenset[str]], words: Sequence[Token], pattern: Pattern, start: int, hi: int) -> list[int]:
    """Where ``pattern`` ends when it starts at ``start`` (before ``hi``)."""
    ends: list[int] = []

    def accepts(position: int, part: Part) -> bool:
        return (
            position < hi
            and not isinstance(part, str)
            and any(alt.key in keys[position] and (words[position].capital or not alt.capital) for alt in part)
        )

    def extend(position: int, index: int) -> None:
        if index == len(pattern):
            ends.append(position)
            return
        part = pattern[index]
        if isinstance(part, str):
            for skip in range(MAX_GAP + 1):
                if accepts(position + skip, pattern[index + 1]):
                    extend(position + skip + 1, index + 2)
            return
        if accepts(position, part):
            extend(position + 1, index + 1)

    if accepts(start, pattern[0]):
        extend(start + 1, 1)
    return ends
