"""A rough lemma for the ``words`` model: the word with its inflection cut off, so forms share one feature.

Not a linguist's stemmer, a few suffix rules per language: with a few hundred training notes the model sees
"listened" but not "listening", "gedrängt" but not "drängen", and it should read them as one word. German
inflects more (and has "ge-" participles), which is where the first-six-letters stem did worst. Words arrive
as the tokenizer leaves them: lower case, umlauts folded.
"""

from __future__ import annotations

from functools import lru_cache

#: Longest first, so "ungen" goes before "en".
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": ("ingly", "ings", "ing", "edly", "ied", "ies", "ed", "ers", "er", "ly", "es", "s", "e"),
    "de": (
        *("ungen", "ung", "heit", "keit", "lich", "ern", "end", "est"),
        *("en", "er", "es", "em", "et", "st", "te", "t", "e", "n", "s"),
    ),
}
#: A lemma keeps at least this many letters, so short words ("ist", "bed") stay as they are.
SHORTEST = 3


@lru_cache(maxsize=50_000)
def lemma(word: str, language: str) -> str:
    """``word`` without its ending, and in German without the "ge" of a participle ("gedrangt" -> "drang")."""
    if language == "de" and word.startswith("ge") and len(word) > 5 and word.endswith(("t", "en")):
        word = word[2:]
    for suffix in _SUFFIXES.get(language, _SUFFIXES["en"]):
        if word.endswith(suffix) and len(word) - len(suffix) >= SHORTEST:
            word = word[: -len(suffix)]
            break
    # "stopped" -> "stopp" -> "stop": a doubled last letter is an English spelling rule, not part of the word.
    if language == "en" and len(word) > SHORTEST and word[-1] == word[-2] and word[-1] not in "ls":
        word = word[:-1]
    return word
