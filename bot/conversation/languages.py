"""Language tags, and which shipped language answers for a client's tag.

A client's ``language`` is a tag such as ``de`` or ``de-AT``. Texts are looked up for the whole tag first,
then for its primary language, so an Austrian client reads German until someone writes ``de-at`` texts;
what no shipped language covers is read in English, the one language that is always complete.
"""

from __future__ import annotations

from typing import Final

#: The language every text exists in; any other language falls back to it, text by text.
ENGLISH: Final = "en"

#: What ``language:`` may hold: a two- or three-letter language, optionally with region or script subtags.
LANGUAGE_TAG: Final = r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$"


def candidates(tag: str) -> tuple[str, ...]:
    """``de-AT`` -> ``("de-at", "de")``: the forms to look up, most specific first, case-folded."""
    folded = tag.casefold()
    primary = folded.split("-", 1)[0]
    return (folded,) if primary == folded else (folded, primary)
